"""`gitwarden events`: the event stream (overlaps, resolutions, checkpoints, errors, ...)."""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.errors import UsageError
from gitwarden.output import for_terminal, paint, print_json
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from gitwarden.units import parse_duration


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "events", "show the event log; --follow to stream it",
        """\
  gitwarden events                      the last 50 events
  gitwarden events --follow             keep printing new events (Ctrl-C to stop)
  gitwarden events --kind overlap --since 1h --json
""")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    parser.add_argument("--kind", action="append", default=[],
                        help="only events of this kind (repeatable)")
    parser.add_argument("--agent", help="only events about this agent")
    parser.add_argument("--since", help="only events newer than this (e.g. 10m, 2h)")
    parser.add_argument("-n", "--limit", type=int, default=50,
                        help="show at most this many past events (default 50)")
    parser.add_argument("--json", action="store_true",
                        help="JSON: a list, or one object per line with --follow")
    parser.set_defaults(handler=run)


def parse_since(text: str | None) -> float | None:
    """A --since value ("10m", "2h") as a timestamp."""


    if text is None:
        return None
    try:
        return time.time() - parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from exc


def run(args: argparse.Namespace) -> int:


    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    since = parse_since(args.since)
    workspace = Workspace.load(args.cwd)
    with Store.open(workspace.repo) as store:
        events = list_events(store, since=since, kinds=args.kind, agent=args.agent,
                             limit=args.limit)
        if args.json and not args.follow:
            print_json([e.as_json() for e in events])
            return 0
        last_id = events[-1].id if events else _newest_id(store)
        if not args.follow:
            for event in events:
                _print(event, args.json)
            if not events:
                print("no events")
            return 0
        try:
            for event in events:
                _print(event, args.json)
            sys.stdout.flush()
            while _reader_present(0.5):
                new = list_events(store, after_id=last_id, kinds=args.kind, agent=args.agent)
                for event in new:
                    _print(event, args.json)
                    last_id = event.id
                if new:
                    sys.stdout.flush()
        except KeyboardInterrupt:
            return 0
        except BrokenPipeError:
            pass
        _silence_stdout()  # the reader is gone (`| head -1`): a quiet, successful end
        return 0


def _reader_present(timeout: float) -> bool:
    """Wait `timeout` seconds; False as soon as nobody reads our output any more.

    Polling stdout for no event at all reports only errors and hang-ups: a pipe whose reader
    exited, a closed terminal. A quiet --follow would otherwise notice only at its next write.
    """

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        time.sleep(timeout)
        return True
    poller = select.poll()
    poller.register(fd, 0)
    return not poller.poll(timeout * 1000)


def _silence_stdout() -> None:

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def _newest_id(store: Any) -> int:

    newest = list_events(store, limit=1)
    return newest[-1].id if newest else 0


def _print(event: Any, as_json: bool) -> None:


    if as_json:
        print(json.dumps(event.as_json(), ensure_ascii=False))
        return
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.ts))
    color = {"warning": "yellow", "error": "red"}.get(event.severity)
    kind = paint(event.kind, color) if color else event.kind
    agent = f" [{event.agent}]" if event.agent else ""
    print(f"{stamp} {kind}{for_terminal(agent, newlines=False)} "
          f"{for_terminal(event.message, newlines=False)}")
