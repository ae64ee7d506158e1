"""`gitwarden run`: run a command as an agent (registered for pause/resume) and/or holding
named resource locks (e.g. only one agent runs the test suite at a time)."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.commands import add_command
from gitwarden.coordination.arguments import open_context
from gitwarden.coordination.run import run_command
from gitwarden.errors import UsageError
from gitwarden.views.context_refresh import refresh_context_files


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "run", "run a command in an agent's worktree (paused with the agent) "
        "and/or holding named locks",
        """\
  gitwarden run --agent payments -- claude          start the agent; pause stops it
  gitwarden run --lock tests -- pytest -q           one test run at a time
  gitwarden run --agent docs --lock build --wait 1h -- make html
""")
    parser.add_argument("--agent", help="run as this agent: in its worktree, with "
                        "GITWARDEN_AGENT set, stopped while it is paused")
    parser.add_argument("--lock", action="append", default=[], metavar="NAME",
                        help="hold this named lock while the command runs (repeatable)")
    parser.add_argument("--wait", default="30m", metavar="DURATION",
                        help="how long to wait for the locks (default 30m)")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("give the command after `--`: gitwarden run [--agent A] -- CMD ...")
    for name in args.lock:
        if not name.strip() or any(ch.isspace() for ch in name):
            raise UsageError(f"invalid lock name {name!r}: use a word such as 'tests'")
    workspace, store = open_context(args)
    with store:
        return run_command(workspace, store, command, agent_name=args.agent,
                           lock_names=args.lock, wait=args.wait,
                           locks_changed=lambda: refresh_context_files(workspace, store))
