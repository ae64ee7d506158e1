"""`gitwarden request` and `inbox`: messages between agents, shown in REQUESTS.md."""

from __future__ import annotations

import argparse
import time
from typing import Any

from gitwarden.agents.caller import current_agent, require_agent
from gitwarden.commands import add_command
from gitwarden.coordination import requests
from gitwarden.coordination.arguments import open_context
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.output import for_terminal, print_json
from gitwarden.store.events import EventKind, record_event
from gitwarden.views.context_refresh import refresh_context_files


def register(subparsers: Any) -> None:
    request = add_command(
        subparsers, "request", "send a request to another agent, or close one",
        """\
  gitwarden request --to payments "please release src/payments/api.py"
  gitwarden request --to docs --from api "document the new /refund endpoint"
  gitwarden request --close 7
""")
    request.add_argument("text", nargs="?", help="what you ask for")
    request.add_argument("--to", metavar="AGENT", help="the agent asked")
    request.add_argument("--from", dest="sender", metavar="AGENT",
                         help="the asking agent (default: GITWARDEN_AGENT, the worktree you are "
                         "in, else 'user')")
    request.add_argument("--close", type=int, metavar="ID", help="close request ID as handled")
    request.set_defaults(handler=run_request)

    inbox = add_command(subparsers, "inbox", "list the open requests to an agent",
                        "  gitwarden inbox\n  gitwarden inbox payments --json\n"
                        "  gitwarden inbox --all          every agent, closed ones too\n")
    inbox.add_argument("agent", nargs="?", help="whose inbox (default: the current agent)")
    inbox.add_argument("--all", action="store_true", help="every agent, closed requests too")
    inbox.add_argument("--json", action="store_true")
    inbox.set_defaults(handler=run_inbox)


def run_request(args: argparse.Namespace) -> int:


    workspace, store = open_context(args)
    with store:
        me = current_agent(workspace, args.sender)
        sender = me.name if me else "user"
        if args.close is not None:
            if args.to or args.text:
                raise UsageError("--close takes only the request id")
            closed, now = requests.close_request(store, args.close, sender)
            if closed is None:
                raise UsageError(f"no request #{args.close}")
            if not now:
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(closed.closed_at or 0))
                raise GitwardenError(f"request #{closed.id} is already closed "
                                     f"(by {closed.closed_by}, {when})")
            print(f"closed request #{closed.id} ({closed.from_agent} -> {closed.to_agent})")
        else:
            if not args.to or not args.text or not args.text.strip():
                raise UsageError('give the agent and the text: gitwarden request --to AGENT '
                                 '"text"')
            target = workspace.agent(args.to).name
            if target == sender:
                raise UsageError(f"agent {sender} cannot send a request to itself")
            made = requests.add_request(store, sender, target, args.text.strip())
            record_event(store, EventKind.REQUEST_SENT, f"{sender} -> {target}: {made.text}",
                         agent=target, data={"request": made.as_json()})
            print(f"request #{made.id} sent to {target}")
        refresh_context_files(workspace, store)
    return 0


def run_inbox(args: argparse.Namespace) -> int:


    workspace, store = open_context(args)
    with store:
        whom = None if args.all else require_agent(
            workspace, args.agent, how="name the agent: gitwarden inbox AGENT").name
        found = requests.list_requests(store, to_agent=whom, include_closed=args.all)
    if args.json:
        print_json({"agent": whom, "requests": [r.as_json() for r in found]})
        return 0
    if not found:
        print(f"no open requests to {whom}" if whom else "no requests")
    for item in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.ts))
        state = "" if item.is_open else f" [closed by {item.closed_by}]"
        print(f"#{item.id} {when} {item.from_agent} -> {item.to_agent}{state}: "
              f"{for_terminal(item.text, newlines=False)}")
    return 0
