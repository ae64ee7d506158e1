"""`gitwarden log`: which agent touched which file, and when."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.commands.events import parse_since
from gitwarden.errors import UsageError
from gitwarden.output import for_terminal, print_json, table
from gitwarden.store.activity import list_activity
from gitwarden.store.db import Store


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "log", "show file activity seen by the daemon (who touched what, when)",
        """\
  gitwarden log                         recent activity of every agent
  gitwarden log --path src/app.py       who touched this file (or directory)
  gitwarden log --agent alpha --since 10m --json
""")
    parser.add_argument("--agent", help="only this agent")
    parser.add_argument("--path", help="only this file, or files under this directory")
    parser.add_argument("--since", help="only activity newer than this (e.g. 10m, 2h, 1d)")
    parser.add_argument("-n", "--limit", type=int, default=200,
                        help="show at most this many rows (default 200)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:


    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    since = parse_since(args.since)
    workspace = Workspace.load(args.cwd)
    path = _relative_path(workspace, args.path) if args.path else None
    with Store.open(workspace.repo) as store:
        rows = list_activity(store, agent=args.agent, path=path, since=since, limit=args.limit)
        if args.agent and args.agent not in {a.name for a in workspace.agents} and \
                not list_activity(store, agent=args.agent, limit=1):
            workspace.agent(args.agent)  # unknown now and never seen: a usage error
    if args.json:
        print_json([row.as_json() for row in rows])
        return 0
    if not rows:
        print("no activity recorded (is `gitwarden watch` running?)")
        return 0
    print(table(["time", "agent", "action", "path"],
                [[time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.ts)), r.agent, r.action,
                  for_terminal(r.path, newlines=False)] for r in rows]))
    return 0


def _relative_path(workspace: Any, path: str) -> str:
    """A path given relative to the repo root, or absolute inside any agent worktree."""

    candidate = Path(path)
    if candidate.is_absolute():
        for agent in workspace.agents:
            try:
                return candidate.relative_to(agent.path).as_posix()
            except ValueError:
                continue
        try:
            return candidate.relative_to(workspace.repo.main_worktree).as_posix()
        except ValueError:
            return path
    return os.path.normpath(path).replace(os.sep, "/")
