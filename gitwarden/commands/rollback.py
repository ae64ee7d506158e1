"""`gitwarden checkpoints|rollback|prune`: the checkpoint history, restoring it, pruning it."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Any

from gitwarden.admin.removal import restore_agent
from gitwarden.agents.caller import require_user
from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.backups import prune_backups, prune_stash_objects, removed_agents
from gitwarden.checkpoints.rollback import (
    RollbackOutcome,
    find_checkpoint,
    history,
    list_checkpoints,
    preview_rollback,
    prune,
    recover_agent,
    rollback,
    undo_rollback,
    undo_target,
)
from gitwarden.commands import add_command
from gitwarden.errors import UsageError
from gitwarden.health.logs import prune_logs
from gitwarden.output import print_json, short, table
from gitwarden.store.db import Store
from gitwarden.upkeep.objects import tidy_objects
from gitwarden.upkeep.retention import apply_retention
from gitwarden.views.plans import describe_plan


def register(subparsers: Any) -> None:
    listing = add_command(
        subparsers, "checkpoints", "list checkpoints, newest first",
        """\
  gitwarden checkpoints
  gitwarden checkpoints alpha -n 5
  gitwarden checkpoints alpha --json
  gitwarden checkpoints --removed       agents removed with `agent remove`
""")
    listing.add_argument("agent", nargs="?", metavar="AGENT")
    listing.add_argument("--removed", action="store_true",
                         help="checkpoints of removed agents (all, or the one named)")
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
  gitwarden rollback alpha --undo --yes back one rollback (the undo stack)
  gitwarden rollback alpha --undo --all --yes   back to before the first rollback
  gitwarden rollback alpha --history    every rollback and undo, newest first
  gitwarden rollback alpha --recover    finish or roll back an interrupted rollback
""")
    rollback.add_argument("agent", metavar="AGENT")
    rollback.add_argument("--to", metavar="CHECKPOINT", help="checkpoint id (or prefix)")
    rollback.add_argument("--undo", action="store_true",
                          help="go back one rollback (repeat, or add --all)")
    rollback.add_argument("--all", action="store_true",
                          help="with --undo: undo every rollback, back to before the first")
    rollback.add_argument("--history", action="store_true",
                          help="list the agent's rollbacks and undos")
    rollback.add_argument("--recover", action="store_true",
                          help="only finish or roll back an interrupted rollback")
    rollback.add_argument("--removed", action="store_true",
                          help="a removed agent: re-create its worktree (agent restore) first")
    rollback.add_argument("--include-untracked-large", action="store_true",
                          help="also replace files no checkpoint holds (big untracked, "
                               "ignored): they are stashed first; default: left in place")
    rollback.add_argument("--dry-run", action="store_true", help="show the changes only")
    rollback.add_argument("--yes", "-y", action="store_true", help="do not ask")
    rollback.add_argument("--json", action="store_true")
    rollback.set_defaults(handler=run_rollback)

    prune = add_command(
        subparsers, "prune",
        "drop old checkpoints, old state rows and old health logs, and pack loose objects",
        """\
  gitwarden prune                       apply [checkpoints] keep / keep_clean_days and
                                        [health] keep_logs, then [retention] to the state
                                        store, then repack
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


def run_checkpoints(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("-n/--limit must be at least 1")
    workspace = Workspace.load(args.cwd)
    agents: list[Agent] | list[str]
    if args.removed:
        agents = _removed_names(workspace, args.agent)
    else:
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


def _removed_names(workspace: Workspace, name: str | None) -> list[str]:
    removed = removed_agents(workspace)
    if name is None:
        return removed
    if name not in removed:
        raise UsageError(f"{name!r} is not a removed agent with checkpoints (removed: "
                         f"{', '.join(removed) or 'none'})")
    return [name]


def run_rollback(args: argparse.Namespace) -> int:
    if args.undo and args.to:
        raise UsageError("--undo and --to cannot be combined")
    if args.all and not args.undo:
        raise UsageError("--all goes with --undo")
    workspace = Workspace.load(args.cwd)
    require_user(workspace, "gitwarden rollback")
    with Store.open(workspace.repo) as store:
        if args.removed:
            _removed_names(workspace, args.agent)
            if not args.dry_run:
                for line in restore_agent(workspace, store, args.agent):
                    print(line)
                if not args.to:
                    return 0
        agent = workspace.agent(args.agent)
        if args.history:
            return _print_history(store, agent.name, args.json)
        if not agent.exists:
            raise UsageError(f"agent {agent.name}: worktree missing: {agent.path} (if it was "
                             f"removed: gitwarden agent restore {shlex.quote(agent.name)})")
        recovered = recover_agent(workspace, store, agent)
        for line in recovered:
            print(line, file=sys.stderr)
        if args.recover:
            if not recovered:
                print(f"{agent.name}: nothing to recover")
            return 0
        steps = 0
        while True:
            outcome = _rollback_once(args, workspace, store, agent)
            if isinstance(outcome, int):
                return outcome if not steps else 0
            steps += 1
            _report(args, agent.name, outcome)
            if not (args.undo and args.all) or not _can_undo(workspace, store, agent):
                return 0


def _can_undo(workspace: Workspace, store: Store, agent: Agent) -> bool:
    try:
        undo_target(workspace, store, agent)
    except UsageError:
        return False
    return True


def _rollback_once(args: argparse.Namespace, workspace: Workspace, store: Store,
                   agent: Agent) -> RollbackOutcome | int:
    """One rollback or undo; an exit code when it stopped short (dry run, declined)."""
    step = undo_target(workspace, store, agent) if args.undo else None
    target = step.info if step is not None else \
        find_checkpoint(workspace, store, agent, args.to)
    plan = preview_rollback(workspace, agent, target,
                            include_unheld=args.include_untracked_large,
                            state=step.state if step is not None else None)
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
            print("rollback aborted: nothing was changed")
            return 1
    if args.undo:
        return undo_rollback(workspace, store, agent,
                             include_unheld=args.include_untracked_large)
    return rollback(workspace, store, agent, target,
                    include_unheld=args.include_untracked_large)


def _report(args: argparse.Namespace, name: str, outcome: RollbackOutcome) -> None:
    plan = outcome.plan
    if args.json:
        print_json({**plan.as_json(), "safety_checkpoint": outcome.safety,
                    "backup_ref": outcome.backup_ref, "journal": outcome.rollback_id})
        return
    target = plan.target
    noun = "clean commit" if target.kind == "commit" else "checkpoint"
    verb = "undid a rollback: back to" if args.undo else "restored"
    print(f"{name}: {verb} {noun} {short(target.commit)} (HEAD {short(target.head)}, "
          f"{len(plan.changes)} file(s) changed)")
    print(f"  safety checkpoint {short(outcome.safety)}, backup {outcome.backup_ref}")
    for path in plan.kept:
        print(f"  left in place {path}: no checkpoint holds it (untracked over the size cap "
              "or ignored); --include-untracked-large replaces it (stashed first)")
    for path in plan.stash:
        print(f"  saved {path} into the stash before replacing it")
    for path in plan.restores:
        print(f"  put back {path} from the stash")
    print(f"  undo with: gitwarden rollback {shlex.quote(name)} --undo --yes")


def _print_history(store: Store, name: str, as_json: bool) -> int:
    entries = history(store, name)
    if as_json:
        print_json({"history": [entry.as_json() for entry in entries]})
        return 0
    if not entries:
        print(f"{name}: no rollbacks yet")
        return 0
    rows = []
    for entry in entries:
        state = entry.phase + (" (undone)" if entry.undone else "")
        target = entry.data.get("target", {}).get("commit")
        saved = entry.data.get("saved", {}).get("commit")
        rows.append([str(entry.id),
                     time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.ts)),
                     entry.kind, state, short(target), short(saved),
                     str(len(entry.data.get("kept", [])))])
    print(table(["#", "time", "what", "state", "to", "saved as", "kept"], rows))
    return 0


def _print_plan(plan: Any, what: str, short: Any) -> None:
    print("\n".join(describe_plan(plan, what)))


def run_prune(args: argparse.Namespace) -> int:
    if args.keep is not None and args.keep < 1:
        raise UsageError("--keep must be at least 1")
    if args.keep_clean_days is not None and args.keep_clean_days < 0:
        raise UsageError("--keep-clean-days must not be negative")
    workspace = Workspace.load(args.cwd)
    require_user(workspace, "gitwarden prune")
    removed = removed_agents(workspace)
    names = args.agents or [a.name for a in workspace.agents] + removed
    for name in args.agents:
        if name not in removed:
            workspace.agent(name)  # unknown names are usage errors
    # State and objects belong to the whole repository: only when no agent is named.
    whole = not args.agents and not args.checkpoints_only
    with Store.open(workspace.repo) as store:
        results = [prune(workspace, store, name, keep=args.keep,
                         keep_clean_days=args.keep_clean_days, dry_run=args.dry_run)
                   for name in names]
        backups = {name: prune_backups(workspace, store, name, dry_run=args.dry_run)
                   for name in names}
        freed = 0 if args.dry_run or args.agents else prune_stash_objects(workspace, store)
        health = workspace.config.health
        logs = prune_logs(workspace.repo, store, keep=health.keep_logs,
                          max_age=health.keep_logs_age, dry_run=args.dry_run)
        state = apply_retention(workspace.repo, workspace.config, store,
                                dry_run=args.dry_run) if whole else None
        objects = tidy_objects(workspace.repo, workspace.config, store, force=True,
                               dry_run=args.dry_run) if whole else None
    if args.json:
        print_json({"dry_run": args.dry_run, "stash_freed": freed, "agents": [
            {"agent": r.agent, "kept": r.kept, "dropped": r.dropped, "tip": r.tip,
             "removed": r.agent in removed, "backups_kept": backups[r.agent][0],
             "backups_dropped": backups[r.agent][1]}
            for r in results], "health_logs": {"kept": logs.kept, "dropped": len(logs.dropped)},
            "state": state.as_json() if state else None,
            "objects": objects.as_json() if objects else None})
        return 0
    verb = "would drop" if args.dry_run else "dropped"
    for r in results:
        note = " (removed agent)" if r.agent in removed else ""
        kept_b, dropped_b = backups[r.agent]
        print(f"{r.agent}{note}: kept {r.kept}, {verb} {r.dropped}; backups: kept "
              f"{kept_b}, {verb} {dropped_b}")
    if freed:
        print(f"stash: freed {freed} bytes")
    print(f"health logs: kept {logs.kept}, {verb} {len(logs.dropped)}")
    if state is not None:
        rows = ", ".join(f"{table} {count}" for table, count in state.removed.items() if count)
        print(f"state: {'would remove' if args.dry_run else 'removed'} {state.total} row(s)"
              f"{f' ({rows})' if rows else ''}; {state.after.total // 1024} KiB")
    if objects is not None:
        counts = objects.after or objects.before
        print(f"objects: {objects.status}; {counts.loose} loose, {counts.packs} pack(s)")
    return 0
