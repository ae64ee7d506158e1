"""`gitwarden checkpoint`: snapshot agents' worktrees into private checkpoint commits.

Start-up is part of the command's cost (issue 17): this module imports only argparse and the
`git status` runner at load time. The run starts `git status` of the worktree first, then
imports the rest (pygit2, the workspace, the checkpoint code) while git works on the other
core; the history, rollback and prune verbs live in `commands.rollback`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitwarden.commands import add_command
from gitwarden.errors import UsageError
from gitwarden.git.status_scan import StatusScan, worktree_top
from gitwarden.output import print_json, short

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace
    from gitwarden.checkpoints.take import CheckpointResult


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
    if args.all or len(args.agents) > 1:
        return None
    top = worktree_top(args.cwd or os.getcwd())
    if top is None or (args.agents and args.agents[0] != top.name):
        return None
    return StatusScan(top, one_thread=True)


def run_checkpoint(args: argparse.Namespace) -> int:
    early = _early_scan(args)
    try:
        # Lazy: these load pygit2 and the workspace while the `git status` above runs.
        from gitwarden.agents.workspace import Workspace

        workspace = Workspace.load(args.cwd)
        if args.clean and args.all:
            raise UsageError("--clean needs the agents named (it means: this state is known "
                             "good)")
        agents = _selected_agents(workspace, args.agents, args.all)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
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
    _print_results(args, results)
    return 1 if any(r.status == "skipped" for r in results) else 0


def _selected_agents(workspace: Workspace, names: list[str], all_agents: bool) -> list[Agent]:
    from gitwarden.agents.model import agent_for_path  # lazy: see the module docstring

    if names and all_agents:
        raise UsageError("name agents or use --all, not both")
    if names or all_agents:
        agents = workspace.select(names)
    else:
        here = agent_for_path(workspace.agents, Path(workspace.repo.current_worktree or "."))
        if here is None:
            raise UsageError("name an agent or use --all (not inside an agent's worktree)")
        agents = [here]
    if not agents:
        raise UsageError("no agents (add one with `gitwarden agent add NAME`)")
    return agents


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


def _print_results(args: argparse.Namespace, results: list[CheckpointResult]) -> None:
    if args.json:
        print_json({"checkpoints": [r.as_json() for r in results]})
        return
    for result in results:
        if result.status == "created":
            line = f"{result.agent}: {result.commit}"
        elif result.status == "unchanged":
            line = f"{result.agent}: unchanged ({short(result.commit)})"
            if args.message:
                line += (f"; message {args.message!r} not recorded: nothing changed since "
                         "that checkpoint")
        else:
            line = f"{result.agent}: skipped: {result.reason}"
        if args.clean and result.status != "skipped":
            line += " [clean]"
        print(line)
        if result.left_out:
            print(f"  left out {len(result.left_out)} untracked file(s) over the size cap: "
                  + ", ".join(result.left_out[:5]), file=sys.stderr)
