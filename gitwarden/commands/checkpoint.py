"""`gitwarden checkpoint|checkpoints|rollback|prune`: snapshots of agents and restoring them."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitwarden.agents.model import agent_for_path
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.rollback import (
    find_checkpoint,
    list_checkpoints,
    preview_rollback,
    prune,
    rollback,
    undo_rollback,
    undo_target,
)
from gitwarden.checkpoints.take import take_checkpoint
from gitwarden.commands import add_command
from gitwarden.errors import UsageError
from gitwarden.git.status_scan import StatusScan, worktree_top
from gitwarden.output import print_json, short, table
from gitwarden.store.db import Store
from gitwarden.upkeep.objects import tidy_objects
from gitwarden.upkeep.retention import apply_retention

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

    listing = add_command(
        subparsers, "checkpoints", "list checkpoints, newest first",
        """\
  gitwarden checkpoints
  gitwarden checkpoints alpha -n 5
  gitwarden checkpoints alpha --json
""")
    listing.add_argument("agent", nargs="?", metavar="AGENT")
    listing.add_argument("-n", "--limit", type=int, default=None, metavar="N",
                         help="show at most N checkpoints")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_checkpoints)

    rollback = add_command(
        subparsers, "rollback",
        "restore an agent to a checkpoint (default: its newest clean one)",
        """\
  gitwarden rollback alpha --dry-run    what would change and what would be deleted
  gitwarden rollback alpha --yes        back to the newest clean checkpoint
  gitwarden rollback alpha --to 1a2b3c4d --yes
  gitwarden rollback alpha --undo --yes back to the state before the last rollback
""")
    rollback.add_argument("agent", metavar="AGENT")
    rollback.add_argument("--to", metavar="CHECKPOINT", help="checkpoint id (or prefix)")
    rollback.add_argument("--undo", action="store_true",
                          help="return to the state right before the last rollback")
    rollback.add_argument("--dry-run", action="store_true", help="show the changes only")
    rollback.add_argument("--yes", "-y", action="store_true", help="do not ask")
    rollback.add_argument("--json", action="store_true")
    rollback.set_defaults(handler=run_rollback)

    prune = add_command(
        subparsers, "prune",
        "drop old checkpoints and old state rows, and pack loose objects",
        """\
  gitwarden prune                       apply [checkpoints] keep / keep_clean_days, then
                                        [retention] to the state store, then repack
  gitwarden prune --dry-run --json      what would go, per agent and per table
  gitwarden prune alpha --keep 20 --dry-run   one agent's checkpoints only
  gitwarden prune --checkpoints-only
""")
    prune.add_argument("agents", nargs="*", metavar="AGENT")
    prune.add_argument("--keep", type=int, metavar="N", help="checkpoints to keep per agent")
    prune.add_argument("--keep-clean-days", type=float, metavar="D",
                       help="keep clean checkpoints this many days")
    prune.add_argument("--checkpoints-only", action="store_true",
                       help="leave the state store and the object store alone")
    prune.add_argument("--dry-run", action="store_true")
    prune.add_argument("--json", action="store_true")
    prune.set_defaults(handler=run_prune)


def _selected_agents(workspace: Workspace, names: list[str], all_agents: bool) -> list[Agent]:


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

    results = [take_checkpoint(workspace, agent, message=args.message, clean=args.clean,
                               kind="manual", scan=scans.get(agent.name)) for agent in agents]
    if args.json:
        print_json({"checkpoints": [r.as_json() for r in results]})
    else:
        for result in results:
            if result.status == "created":
                line = f"{result.agent}: {result.commit}"
            elif result.status == "unchanged":
                line = f"{result.agent}: unchanged ({short(result.commit)})"
            else:
                line = f"{result.agent}: skipped: {result.reason}"
            if args.clean and result.status != "skipped":
                line += " [clean]"
            print(line)
            if result.left_out:
                print(f"  left out {len(result.left_out)} untracked file(s) over the size cap: "
                      + ", ".join(result.left_out[:5]), file=sys.stderr)
    return 1 if any(r.status == "skipped" for r in results) else 0


def run_checkpoints(args: argparse.Namespace) -> int:


    if args.limit is not None and args.limit < 1:
        raise UsageError("-n/--limit must be at least 1")
    workspace = Workspace.load(args.cwd)
    agents = workspace.select([args.agent] if args.agent else None)
    with Store.open(workspace.repo) as store:
        listed = list_checkpoints(workspace, store, agents, args.limit)
    if args.json:
        print_json({"checkpoints": [item.as_json() for item in listed]})
        return 0
    if not listed:
        print("no checkpoints yet (take one with `gitwarden checkpoint AGENT`)")
        return 0
    rows = [[short(item.info.commit),
             time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.info.time)),
             item.info.agent, short(item.info.head), str(item.info.changed),
             "yes" if item.clean else "", item.info.summary.partition(": ")[2]]
            for item in listed]
    print(table(["id", "time", "agent", "head", "files", "clean", "message"], rows))
    return 0


def run_rollback(args: argparse.Namespace) -> int:

    if args.undo and args.to:
        raise UsageError("--undo and --to cannot be combined")
    workspace = Workspace.load(args.cwd)
    agent = workspace.agent(args.agent)
    if not agent.exists:
        raise UsageError(f"agent {agent.name}: worktree missing: {agent.path}")
    with Store.open(workspace.repo) as store:
        target = undo_target(workspace, store, agent)[1] if args.undo else \
            find_checkpoint(workspace, store, agent, args.to)
        plan = preview_rollback(workspace, agent, target)
        what = "undo the last rollback of" if args.undo else "roll back"
        if args.dry_run:
            if args.json:
                print_json({"dry_run": True, **plan.as_json()})
            else:
                _print_plan(plan, what, short)
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("refusing to roll back without --yes: stdin is not a terminal "
                                 "(preview with --dry-run)")
            _print_plan(plan, what, short)
            answer = input("Proceed? A safety checkpoint and a backup ref are taken first "
                           "[y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("aborted")
                return 1
        outcome = undo_rollback(workspace, store, agent) if args.undo else \
            rollback(workspace, store, agent, target)
    if args.json:
        print_json({**outcome.plan.as_json(), "safety_checkpoint": outcome.safety,
                    "backup_ref": outcome.backup_ref})
    else:
        noun = "clean commit" if target.kind == "commit" else "checkpoint"
        print(f"{agent.name}: restored {noun} {short(target.commit)} (HEAD "
              f"{short(target.head)}, {len(outcome.plan.changes)} file(s) changed)")
        print(f"  safety checkpoint {short(outcome.safety)}, backup {outcome.backup_ref}")
        print(f"  undo with: gitwarden rollback {agent.name} --undo --yes")
    return 0


def _print_plan(plan: Any, what: str, short: Any) -> None:
    noun = "clean commit" if plan.target.kind == "commit" else "checkpoint"
    print(f"would {what} {plan.agent} to {noun} {short(plan.target.commit)}: "
          f"{plan.target.summary}")
    if plan.moves_head:
        where = f"branch {plan.branch}" if plan.branch else "detached HEAD"
        print(f"  {where}: {short(plan.current_head)} -> {short(plan.target.head)}")
    writes = [c for c in plan.changes if c.status != "D"]
    deletes = [c for c in plan.changes if c.status == "D"]
    for change in writes:
        print(f"  {'restore' if change.status == 'A' else 'overwrite'} {change.path}")
    for change in deletes:
        print(f"  delete {change.path}")
    for path in getattr(plan, "kept_nested", []):
        print(f"  keep nested repository {path} (never deleted or replaced)")
    if not plan.changes:
        print("  no file changes")


def run_prune(args: argparse.Namespace) -> int:

    if args.keep is not None and args.keep < 1:
        raise UsageError("--keep must be at least 1")
    if args.keep_clean_days is not None and args.keep_clean_days < 0:
        raise UsageError("--keep-clean-days must not be negative")
    workspace = Workspace.load(args.cwd)
    agents = workspace.select(args.agents or None)
    # State and objects belong to the whole repository: only when no agent is named.
    whole = not args.agents and not args.checkpoints_only
    with Store.open(workspace.repo) as store:
        results = [prune(workspace, store, agent, keep=args.keep,
                         keep_clean_days=args.keep_clean_days, dry_run=args.dry_run)
                   for agent in agents]
        state = apply_retention(workspace.repo, workspace.config, store,
                                dry_run=args.dry_run) if whole else None
        objects = tidy_objects(workspace.repo, workspace.config, store, force=True,
                               dry_run=args.dry_run) if whole else None
    if args.json:
        print_json({"dry_run": args.dry_run, "agents": [
            {"agent": r.agent, "kept": r.kept, "dropped": r.dropped, "tip": r.tip}
            for r in results], "state": state.as_json() if state else None,
            "objects": objects.as_json() if objects else None})
        return 0
    verb = "would drop" if args.dry_run else "dropped"
    for r in results:
        print(f"{r.agent}: kept {r.kept}, {verb} {r.dropped}")
    if state is not None:
        rows = ", ".join(f"{table} {count}" for table, count in state.removed.items() if count)
        print(f"state: {'would remove' if args.dry_run else 'removed'} {state.total} row(s)"
              f"{f' ({rows})' if rows else ''}; {state.after.total // 1024} KiB")
    if objects is not None:
        counts = objects.after or objects.before
        print(f"objects: {objects.status}; {counts.loose} loose, {counts.packs} pack(s)")
    return 0
