"""`gitwarden done` and `wait`: agents say they are finished; scripts wait for them."""

from __future__ import annotations

import argparse
import time
from typing import Any

from gitwarden.agents.caller import require_agent
from gitwarden.commands import add_command
from gitwarden.coordination import completion
from gitwarden.coordination.arguments import open_context, parse_duration_arg
from gitwarden.landing import queue
from gitwarden.landing.preflight import refusal
from gitwarden.store.events import EventKind, record_event, record_notice
from gitwarden.views.context_refresh import refresh_context_files


def register(subparsers: Any) -> None:
    done = add_command(
        subparsers, "done", "mark an agent's task finished (notifies the user)",
        """\
  gitwarden done -m "refund flow implemented, tests pass"
  gitwarden done payments
  gitwarden done payments --undo      back to work
""")
    done.add_argument("agent", nargs="?", help="default: the current agent")
    done.add_argument("-m", "--message", default="", help="summary of what was done")
    done.add_argument("--undo", action="store_true", help="mark the agent not done")
    done.set_defaults(handler=run_done)

    wait = add_command(
        subparsers, "wait", "wait until agents are done (exit 0) or the timeout (exit 1)",
        """\
  gitwarden wait payments docs --timeout 2h && gitwarden status
""")
    wait.add_argument("agents", nargs="+", metavar="AGENT")
    wait.add_argument("--timeout", default="30m", help="give up after this long (default 30m)")
    wait.add_argument("--interval", default="1s", help=argparse.SUPPRESS)
    wait.set_defaults(handler=run_wait)


def run_done(args: argparse.Namespace) -> int:

    workspace, store = open_context(args)
    with store:
        agent = require_agent(workspace, args.agent, how="name the agent: gitwarden done AGENT")
        if args.undo:
            completion.clear_done(store, agent.name)
            record_event(store, EventKind.AGENT_UNDONE, f"{agent.name} is back to work",
                         agent=agent.name)
            print(f"{agent.name} marked not done")
        else:
            completion.mark_done(store, agent.name, args.message)
            message = f"agent {agent.name} is done" + (f": {args.message}" if args.message
                                                         else "")
            record_notice(store, EventKind.AGENT_DONE, message,
                          title=f"gitwarden: {agent.name} is done", agent=agent.name,
                          data={"summary": args.message})
            print(message)
            if workspace.config.land.on_done:
                _enqueue(workspace, store, agent)
        refresh_context_files(workspace, store)
    return 0


def _enqueue(workspace: Any, store: Any, agent: Any) -> None:
    """`[land] on_done`: a finished agent joins the landing queue (the daemon lands it)."""
    reason = refusal(workspace, store, agent, workspace.base_commit())
    if reason is not None:
        record_event(store, EventKind.LAND_REFUSED, reason, agent=agent.name)
        print(f"not queued for landing: {reason}")
        return
    strategy = workspace.config.land.strategy
    queue.enqueue(store, agent.name, agent.head, strategy, by=agent.name)
    record_event(store, EventKind.LAND_QUEUED, f"queued {agent.name} for landing at "
                 f"{agent.head[:10]} ({strategy}) when it was done", agent=agent.name,
                 data={"head": agent.head, "strategy": strategy})
    print(f"queued {agent.name} for landing (see `gitwarden queue`)")


def run_wait(args: argparse.Namespace) -> int:


    workspace, store = open_context(args)
    timeout = parse_duration_arg(args.timeout, "--timeout")
    interval = parse_duration_arg(args.interval, "--interval")
    names = [workspace.agent(name).name for name in args.agents]
    deadline = time.monotonic() + timeout
    with store:
        while True:
            finished = completion.completions(store)
            missing = [name for name in names if name not in finished]
            if not missing:
                print(f"done: {', '.join(names)}")
                return 0
            if time.monotonic() >= deadline:
                print(f"timed out after {args.timeout}; not done: {', '.join(missing)}")
                return 1
            time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
