"""`gitwarden land` and `queue`: land agents' branches on the base through a checked queue."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from gitwarden.agents.caller import current_agent
from gitwarden.commands import add_command
from gitwarden.coordination.arguments import open_context
from gitwarden.errors import UsageError
from gitwarden.git.quarantine import quarantine_dir
from gitwarden.landing import queue
from gitwarden.landing.candidate import Member, build_candidate
from gitwarden.landing.land import main_worktree_refusal, process_queue
from gitwarden.landing.preflight import LandRefused, commit_uncommitted, refusal
from gitwarden.landing.remote_base import fetch_remote_base, local_base_refusal, remote_base_of
from gitwarden.output import print_json, printable, short, table
from gitwarden.store.events import EventKind, record_event
from gitwarden.views.context_refresh import refresh_context_files

STRATEGIES = ("merge", "squash", "rebase")


def register(subparsers: Any) -> None:
    land = add_command(
        subparsers, "land", "land agents on the base: candidate built in memory, checks run "
        "on it, base advanced by compare-and-swap, a failing agent ejected",
        """\
  gitwarden land alpha beta --dry-run   the candidate and what would stop it
  gitwarden land alpha beta             check and land both (in this order)
  gitwarden land alpha --strategy squash
  gitwarden land alpha --no-wait        queue it; the daemon lands it
  gitwarden land alpha --include-uncommitted   commit its uncommitted work first (undoable)
""")
    land.add_argument("agents", nargs="+", metavar="AGENT")
    land.add_argument("--strategy", choices=STRATEGIES, default=None,
                      help="how each agent's branch joins the base (default: [land] strategy)")
    land.add_argument("--dry-run", action="store_true", help="show the plan only")
    land.add_argument("--no-wait", action="store_true",
                      help="only queue the agents; the daemon lands them")
    land.add_argument("--include-uncommitted", action="store_true",
                      help="commit an agent's uncommitted work (checkpoint and backup first)")
    land.add_argument("--json", action="store_true")
    land.set_defaults(handler=run_land)

    listing = add_command(
        subparsers, "queue", "show the landing queue: queued, running, landed, ejected",
        """\
  gitwarden queue
  gitwarden queue --json
""")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_queue)


def run_land(args: argparse.Namespace) -> int:
    workspace, store = open_context(args)
    with store:
        caller = current_agent(workspace)
        if caller is not None:
            raise UsageError(f"land is a user command; agent {caller.name} may queue itself "
                             "with `gitwarden done` when [land] on_done = true")
        agents = [workspace.agent(name) for name in dict.fromkeys(args.agents)]
        strategy = args.strategy or workspace.config.land.strategy
        base = workspace.base_commit()
        pushed = remote_base_of(workspace)
        if pushed is not None:
            # [land] push: the remote base is what lands; an unreachable remote queues nothing.
            remote_base = fetch_remote_base(workspace, pushed)
            behind = local_base_refusal(workspace, pushed, base, remote_base)
            if behind:
                raise LandRefused(behind)
            base = remote_base
        blocked = main_worktree_refusal(workspace)
        if blocked:
            raise LandRefused(blocked)
        refused: dict[str, str] = {}
        ready = []
        for agent in agents:
            reason = refusal(workspace, store, agent, base, allow_dirty=args.include_uncommitted)
            if reason is not None:
                refused[agent.name] = reason
                if not args.dry_run:
                    queue.record_refusal(store, agent.name, agent.head or "", strategy, reason)
                    record_event(store, EventKind.LAND_REFUSED, reason, agent=agent.name)
                print(f"gitwarden: error: {printable(reason)}", file=sys.stderr)
            else:
                ready.append(agent)
        if args.dry_run:
            return _dry_run(workspace, ready, strategy, base, refused, args.json)
        for agent in ready:
            head = agent.head
            if args.include_uncommitted:
                head = commit_uncommitted(workspace, store, agent)
            assert head is not None
            queue.enqueue(store, agent.name, head, strategy)
            record_event(store, EventKind.LAND_QUEUED, f"queued {agent.name} for landing at "
                         f"{head[:10]} ({strategy})", agent=agent.name,
                         data={"head": head, "strategy": strategy})
        if args.no_wait or not ready:
            if args.json:
                print_json({"queued": [a.name for a in ready], "refused": refused})
            elif ready:
                print(f"queued {', '.join(a.name for a in ready)}; the daemon lands them "
                      "(see `gitwarden queue`)")
            return 1 if refused else 0
        report = process_queue(workspace, store)
        refresh_context_files(workspace, store)
    if args.json:
        print_json({**report.as_json(), "refused": refused})
    else:
        _print_report(report)
    return 1 if refused or report.ejected else 0


def _dry_run(workspace: Any, agents: list[Any], strategy: str, base: str,
             refused: dict[str, str], as_json: bool) -> int:
    members = [Member(a.name, a.branch, a.head, strategy) for a in agents]
    candidate = None
    if members:  # shown, never landed: built in quarantine, so it leaves no object behind
        with quarantine_dir(workspace.repo.common_dir) as objects:
            candidate = build_candidate(workspace.repo.common_dir, base, members,
                                        workspace.base_branch, quarantine=objects)
    checks = [c.name for c in workspace.config.health.checks]
    plan: dict[str, Any] = {
            "dry_run": True, "base": {"branch": workspace.base_branch, "commit": base},
            "strategy": strategy, "order": [m.agent for m in members],
            "candidate": candidate.commit if candidate and candidate.members else None,
            "conflicts": {k: list(v) for k, v in (candidate.ejected if candidate else {}).items()},
            "checks": checks, "refused": refused}
    if as_json:
        print_json(plan)
    else:
        print(f"would land on {workspace.base_branch} ({short(base)}), {strategy}, in order: "
              f"{', '.join(plan['order']) or 'nothing'}")
        if plan["candidate"]:
            print(f"  candidate {short(plan['candidate'])} (built in memory; no worktree "
                  "touched)")
        for name, paths in plan["conflicts"].items():
            print(f"  {name} conflicts with the base in {', '.join(paths)}: would be ejected")
        print(f"  checks on the candidate: {', '.join(checks) or 'none configured'}")
    return 1 if refused or plan["conflicts"] else 0


def _print_report(report: Any) -> None:
    if report.landed:
        print(f"landed {', '.join(report.landed)}: base {short(report.base_before)} -> "
              f"{short(report.base_after)} ({report.runs} health run(s); main worktree "
              f"{report.main_worktree})"
              f"{'; pushed to ' + report.pushed_to if report.pushed_to else ''}")
    else:
        print("nothing landed")
    for name, reason in report.ejected.items():
        print(f"ejected {name}: {printable(reason)}")
    if report.retries:
        print(f"the base moved during the landing: rebuilt and checked again "
              f"{report.retries} time(s)")
    for name in report.told:
        print(f"{name} now conflicts with the base: gitwarden sync {shlex.quote(name)}")


def run_queue(args: argparse.Namespace) -> int:
    _workspace, store = open_context(args)
    with store:
        listed = queue.entries(store)
    if args.json:
        print_json({"queue": [e.as_json() for e in listed]})
        return 0
    if not listed:
        print("the landing queue is empty (queue agents with `gitwarden land AGENT`)")
        return 0
    rows = [[str(e.id), e.agent, short(e.head), e.strategy, e.state, short(e.landed_commit),
             printable(e.reason)[:100]] for e in listed]
    print(table(["id", "agent", "head", "strategy", "state", "landed", "reason"], rows))
    return 0
