"""`gitwarden sync`: bring an agent up to date with the base (rebase or merge), undoably."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from gitwarden.agents.caller import current_agent
from gitwarden.commands import add_command
from gitwarden.coordination.arguments import open_context
from gitwarden.errors import UsageError
from gitwarden.git.quarantine import quarantine_dir
from gitwarden.landing.sync import SyncRefused, apply_sync, plan_sync, undo_sync
from gitwarden.output import print_json, short
from gitwarden.views.context_refresh import refresh_context_files


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "sync", "bring an agent up to date with the base (checkpoint and backup "
        "first; a sync that would conflict changes nothing)",
        """\
  gitwarden sync payments --dry-run   what would change, or why it would conflict
  gitwarden sync payments             rebase onto the base ([sync] strategy)
  gitwarden sync payments --merge     merge the base into the agent's branch instead
  gitwarden sync payments --undo      put the agent back as it was before the sync
""")
    parser.add_argument("agent", metavar="AGENT")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--rebase", dest="strategy", action="store_const", const="rebase",
                     help="replay the agent's commits on the base")
    how.add_argument("--merge", dest="strategy", action="store_const", const="merge",
                     help="merge the base into the agent's branch")
    how.add_argument("--undo", action="store_true", help="undo the agent's last sync")
    parser.add_argument("--dry-run", action="store_true", help="show the plan only")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run, strategy=None)


def run(args: argparse.Namespace) -> int:
    workspace, store = open_context(args)
    with store:
        agent = workspace.agent(args.agent)
        caller = current_agent(workspace)
        if caller is not None and caller.name != agent.name:
            raise UsageError(f"agent {caller.name} may sync only itself, not {agent.name}")
        if args.undo:
            backup = undo_sync(workspace, store, agent)
            refresh_context_files(workspace, store)
            print(f"{agent.name}: back to the state before its last sync (backup {backup})")
            return 0
        if args.dry_run:  # shown, never applied: its commits are built in quarantine
            with quarantine_dir(workspace.repo.common_dir) as objects:
                plan = plan_sync(workspace, agent, args.strategy, quarantine=objects)
            if args.json:
                print_json({"dry_run": True, **plan.as_json()})
            else:
                _print_plan(plan)
            return 1 if plan.refusal else 0
        try:
            outcome = apply_sync(workspace, store, agent, args.strategy)
        except SyncRefused:
            refresh_context_files(workspace, store)
            raise
        refresh_context_files(workspace, store)
    plan = outcome.plan
    if args.json:
        print_json({**plan.as_json(), "safety_checkpoint": outcome.safety,
                    "backup_ref": outcome.backup_ref})
    elif plan.up_to_date:
        print(f"{agent.name} is up to date with the base")
    else:
        print(f"{agent.name}: {plan.strategy}d onto the base ({plan.behind} commit(s)); "
              f"HEAD {short(plan.head)} -> {short(plan.new_head)}, "
              f"{len(plan.changes)} file(s) updated")
        print(f"  safety checkpoint {short(outcome.safety)}, backup {outcome.backup_ref}")
        print(f"  undo with: gitwarden sync {shlex.quote(agent.name)} --undo")
    return 0


def _print_plan(plan: Any) -> None:
    if plan.refusal:
        print(f"would not sync: {plan.refusal}")
        return
    if plan.up_to_date:
        print(f"{plan.agent} is up to date with the base")
        return
    print(f"would {plan.strategy} {plan.agent} onto the base ({plan.behind} commit(s) behind): "
          f"HEAD {short(plan.head)} -> {short(plan.new_head)}")
    for path in plan.changes:
        print(f"  update {path}")
    if plan.uncommitted:
        print(f"  keep {len(plan.uncommitted)} uncommitted file(s) as they are: "
              + ", ".join(plan.uncommitted[:5]))
