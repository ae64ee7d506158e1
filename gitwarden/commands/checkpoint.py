"""`gitwarden checkpoint`: snapshot agents' worktrees into private checkpoint commits.

Start-up is part of the command's cost (issue 17). With a daemon running for the repository,
the daemon takes the checkpoint from memory (control/checkpoint_client.py; entry.py asks it
before this module is even imported). Otherwise the run imports the `git status` runner,
starts `git status` of the worktree, then imports the rest (pygit2, the workspace, the
checkpoint code) while git works on the other core. The history, rollback and prune verbs
live in `commands.rollback`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitwarden.commands import add_command
from gitwarden.control import checkpoint_client

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace
    from gitwarden.git.status_scan import StatusScan


def register(subparsers: Any) -> None:
    checkpoint = add_command(
        subparsers, "checkpoint", "snapshot agents' worktrees into private checkpoint commits",
        """\
  gitwarden checkpoint alpha            checkpoint one agent
  gitwarden checkpoint --all -m "before refactor"
  gitwarden checkpoint alpha --clean    record the current state as known good
  gitwarden checkpoint --all --json
""")
    checkpoint.add_argument("agents", nargs="*", metavar="AGENT")
    checkpoint.add_argument("--all", action="store_true", help="every agent")
    checkpoint.add_argument("-m", "--message", help="a message for the checkpoint")
    checkpoint.add_argument("--clean", action="store_true",
                            help="mark the checkpoint clean (this state is known good)")
    checkpoint.add_argument("--json", action="store_true")
    checkpoint.set_defaults(handler=run_checkpoint)


def _early_scan(args: argparse.Namespace) -> StatusScan | None:
    """`git status` of the worktree the command runs in, when that is likely the agent named.

    Started before anything heavy is imported, so that git and Python work side by side.
    """
    # Lazy: a call the daemon answers needs none of it.
    from gitwarden.git.status_scan import StatusScan, worktree_top

    if args.all or len(args.agents) > 1:
        return None
    top = worktree_top(args.cwd or os.getcwd())
    if top is None or (args.agents and args.agents[0] != top.name):
        return None
    return StatusScan(top, one_thread=True)


def run_checkpoint(args: argparse.Namespace) -> int:
    if not checkpoint_client.asked:
        call = checkpoint_client.Call(args.agents, args.all, args.message, args.clean, args.json)
        reply = checkpoint_client.ask_daemon(call, str(args.cwd or os.getcwd()))
        if reply is not None:  # the running daemon took it from memory
            return checkpoint_client.show(reply)
    early = _early_scan(args)
    try:
        # Lazy: these load pygit2 and the workspace while the `git status` above runs.
        from gitwarden.agents.workspace import Workspace
        from gitwarden.checkpoints.manual import select_agents

        workspace = Workspace.load(args.cwd)
        current = workspace.repo.current_worktree
        agents = select_agents(workspace, args.agents, args.all, args.clean,
                               Path(current) if current is not None else None)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    from gitwarden.git.status_scan import StatusScan  # lazy: see _early_scan

    scans: dict[str, StatusScan] = {}
    for agent in agents:
        if early is not None and agent.path.resolve() == early.worktree.resolve():
            scans[agent.name], early = early, None
        elif agent.exists:
            # `git status` of each worktree runs while pygit2 and the rest are imported.
            scans[agent.name] = StatusScan(agent.path, one_thread=True)
    if early is not None:
        early.cancel()
    try:
        from gitwarden.checkpoints.take import take_checkpoint  # lazy: see the module docstring

        if _recover_pending(workspace, agents):
            for scan in scans.values():  # they saw the files before the recovery
                scan.cancel()
            scans.clear()
        results = [take_checkpoint(workspace, agent, message=args.message, clean=args.clean,
                                   kind="manual", scan=scans.pop(agent.name, None))
                   for agent in agents]
    finally:
        for scan in scans.values():
            scan.cancel()
    from gitwarden.checkpoints.manual import exit_code, render

    out, err = render(results, message=args.message, clean=args.clean, as_json=args.json)
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.stderr.write(err)
    return exit_code(results)


def _recover_pending(workspace: Workspace, agents: list[Agent]) -> bool:
    """Finish or roll back a transaction a killed gitwarden left (one stat when none);
    True when there was one."""
    from gitwarden.checkpoints.journal import has_pending  # lazy: see the module docstring

    pending = [agent for agent in agents if has_pending(workspace, agent.name)]
    if not pending:
        return False
    # Lazy: recovery is rare and brings in the whole rollback machinery.
    from gitwarden.checkpoints.rollback import recover_agent
    from gitwarden.store.db import Store

    with Store.open(workspace.repo) as store:
        for agent in pending:
            for line in recover_agent(workspace, store, agent):
                print(line, file=sys.stderr)
    return True
