"""`gitwarden lock`, `unlock`, `locks`: exclusive claims on paths between agents."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from gitwarden.agents.caller import current_agent, require_agent, require_user
from gitwarden.commands import add_command
from gitwarden.coordination import locks
from gitwarden.coordination.arguments import (
    known_agent_names,
    lock_patterns,
    open_context,
    parse_duration_arg,
)
from gitwarden.coordination.lock_impact import lock_warnings
from gitwarden.coordination.lock_rules import describe_holder, describe_until
from gitwarden.errors import UsageError
from gitwarden.output import for_terminal, print_json, table
from gitwarden.store.events import EventKind, record_event, record_notice
from gitwarden.units import format_duration
from gitwarden.views.context_refresh import refresh_context_files


def register(subparsers: Any) -> None:
    lock = add_command(
        subparsers, "lock", "lock paths or globs for one agent (exclusive, with a TTL)",
        """\
  gitwarden lock src/payments/api.py --reason "new refund flow"
  gitwarden lock 'src/payments/**' --ttl 2h --agent payments
  gitwarden lock src/app.py --wait 10m    wait until its holder releases it
  gitwarden lock db/schema.sql --ttl none no expiry: held until unlocked
  gitwarden lock --renew                  extend all my locks by the TTL
""")
    lock.add_argument("paths", nargs="*", metavar="PATH_OR_GLOB",
                      help="paths or git wildmatch globs, relative to the current directory")
    lock.add_argument("--agent", help="lock for this agent (default: GITWARDEN_AGENT or the "
                      "worktree you are in)")
    lock.add_argument("--ttl", help="how long the lock holds, more than 0 (default from "
                      "gitwarden.toml, 30m); 'none' for no expiry")
    lock.add_argument("--reason", default="", help="what you are doing (shown to others)")
    lock.add_argument("--wait", metavar="DURATION",
                      help="wait up to DURATION for other agents' locks instead of failing at "
                      "once (a lock covering another agent's scope or uncommitted changes is "
                      "granted at once, with a warning)")
    lock.add_argument("--renew", action="store_true",
                      help="extend my locks (the named ones, or all) by the TTL")
    lock.add_argument("--json", action="store_true")
    lock.set_defaults(handler=run_lock)

    unlock = add_command(
        subparsers, "unlock", "release locks",
        """\
  gitwarden unlock src/payments/api.py
  gitwarden unlock --all                  release every lock I hold
  gitwarden unlock src/app.py --force     take away another agent's lock (logged, notified)
""")
    unlock.add_argument("paths", nargs="*", metavar="PATH_OR_GLOB")
    unlock.add_argument("--agent", help="release for this agent")
    unlock.add_argument("--all", action="store_true", help="release all locks of the agent")
    unlock.add_argument("--force", action="store_true",
                        help="release even when another agent holds it (the user only: "
                        "refused from an agent's worktree)")
    unlock.set_defaults(handler=run_unlock)

    listing = add_command(subparsers, "locks", "list the locks held, by whom, until when",
                          "  gitwarden locks\n  gitwarden locks --json | jq '.locks[].pattern'\n")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_locks)


def run_lock(args: argparse.Namespace) -> int:

    workspace, store = open_context(args)
    with store:
        agent = require_agent(workspace, args.agent)
        ttl = _ttl(args.ttl, workspace.config.locks.default_ttl)
        patterns = lock_patterns(workspace, args.paths, args.cwd)
        if args.renew:
            renewed = locks.renew(store, agent.name, patterns or None, ttl)
            if not renewed:
                raise UsageError(f"agent {agent.name} holds no lock to renew"
                                 + (f" on {', '.join(patterns)}" if patterns else ""))
            for lock in renewed:
                print(f"renewed '{lock.pattern}' for {agent.name} {describe_until(lock)}")
            refresh_context_files(workspace, store)
            return 0
        if not patterns:
            raise UsageError("name the paths or globs to lock (or --renew)")
        kwargs: dict[str, Any] = {
            "ttl": ttl, "reason": args.reason,
            "stale_after": workspace.config.locks.stale_after,
            "known_agents": known_agent_names(workspace)}
        if args.wait:
            result = locks.acquire_waiting(store, agent.name, patterns,
                                           wait=parse_duration_arg(args.wait, "--wait"),
                                           **kwargs)
        else:
            result = locks.acquire(store, agent.name, patterns, **kwargs)
        for item in result.released_stale:
            print(f"released stale lock '{item.lock.pattern}' of {item.lock.agent}: {item.why}")
        if args.json:
            print_json({"granted": result.granted, "agent": agent.name,
                        "locks": [lock.as_json() for lock in result.locks],
                        "conflicts": [{"pattern": p, "lock": lock.as_json()}
                                      for p, lock in result.conflicts]})
        if not result.granted:
            if not args.json:
                for pattern, lock in result.conflicts:
                    print(f"gitwarden: '{_t(pattern)}' is {_t(describe_holder(lock))}")
                print("gitwarden: not locked: wait with --wait DURATION, or ask the holder with "
                      "`gitwarden request --to AGENT \"...\"`")
            return 1
        if not args.json:
            for lock in result.locks:
                print(f"locked '{_t(lock.pattern)}' for {agent.name} {describe_until(lock)}")
        for warning in lock_warnings(workspace, agent.name, patterns):
            print(f"gitwarden: warning: {warning}", file=sys.stderr)
            record_event(store, EventKind.LOCK_COVERS_OTHERS, f"lock by {agent.name} on "
                         f"{', '.join(patterns)}: {warning}", agent=agent.name,
                         severity="warning", data={"patterns": patterns})
        refresh_context_files(workspace, store)
    return 0


def run_unlock(args: argparse.Namespace) -> int:

    workspace, store = open_context(args)
    with store:
        if args.force:
            require_user(workspace, "gitwarden unlock --force")
        agent = current_agent(workspace, args.agent)
        if args.all:
            if agent is None:
                raise UsageError("--all needs an agent: run in its worktree or pass --agent")
            patterns = [lock.pattern for lock in locks.list_locks(store, agent=agent.name)
                        if lock.kind == "path"]
        else:
            patterns = lock_patterns(workspace, args.paths, args.cwd)
            if not patterns:
                raise UsageError("name the paths or globs to unlock (or --all)")
        if agent is None and not args.force:
            raise UsageError("cannot tell which agent you are: pass --agent NAME, or --force "
                             "to release another agent's lock")
        me = agent.name if agent else None
        released = locks.release(store, me, patterns, force=args.force)
        if not released:
            print(f"no lock on {', '.join(patterns)}" if patterns else "no locks to release")
            return 1 if patterns and not args.all else 0
        for lock in released:
            print(f"unlocked '{_t(lock.pattern)}' (held by {lock.agent})")
            if lock.agent != me:
                message = (f"lock '{lock.pattern}' of agent {lock.agent} was force-released by "
                           f"{me or 'the user'}")
                record_notice(store, EventKind.LOCK_FORCE_RELEASED, message,
                              title=f"gitwarden: {lock.agent} lost a lock", agent=lock.agent,
                              path=lock.pattern, data={"lock": lock.as_json(), "by": me})
            else:
                record_event(store, EventKind.LOCK_RELEASED,
                             f"{lock.agent} released '{lock.pattern}'", agent=lock.agent,
                             path=lock.pattern)
        refresh_context_files(workspace, store)
    return 0


def run_locks(args: argparse.Namespace) -> int:


    _, store = open_context(args)
    with store:
        held = locks.list_locks(store)
    now = time.time()
    if args.json:
        print_json({"locks": [{**lock.as_json(), "expired": lock.expired(now)} for lock in held]})
        return 0
    if not held:
        print("no locks")
        return 0
    rows = []
    for lock in held:
        if lock.expires_at is None:
            left = "no expiry"
        elif lock.expired(now):
            left = "expired"
        else:
            left = format_duration(lock.expires_at - now)
        rows.append([_t(lock.pattern), lock.kind, _t(lock.agent), left, _t(lock.reason)])
    print(table(["pattern", "kind", "agent", "left", "reason"], rows))
    return 0


def _t(text: str) -> str:
    return for_terminal(text, newlines=False)


def _ttl(text: str | None, default: float) -> float | None:

    if text is None:
        return default

    if text.strip().lower() in ("none", "never"):
        return None
    ttl = parse_duration_arg(text, "--ttl")
    if ttl <= 0:
        raise UsageError(f"--ttl {text}: a lock must hold for more than 0 seconds; "
                         "use --ttl none for a lock without expiry")
    return ttl
