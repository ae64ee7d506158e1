"""`gitwarden pause`, `resume`, `stop`: halt agents (hooks deny, processes get SIGSTOP)."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.agents.caller import require_user
from gitwarden.commands import add_command
from gitwarden.coordination.arguments import open_context
from gitwarden.coordination.pauses import kill_switch
from gitwarden.coordination.pausing import apply_pause, apply_resume, apply_resume_all, apply_stop
from gitwarden.errors import UsageError
from gitwarden.views.context_refresh import refresh_context_files


def register(subparsers: Any) -> None:
    pause = add_command(
        subparsers, "pause", "pause agents: their edits and commits are refused and their "
        "registered processes stopped",
        """\
  gitwarden pause payments --reason "broke the build, investigating"
  gitwarden pause --all
""")
    pause.add_argument("agents", nargs="*", metavar="AGENT")
    pause.add_argument("--all", action="store_true", help="pause every agent")
    pause.add_argument("--reason", default="paused by the user")
    pause.set_defaults(handler=run_pause)

    resume = add_command(
        subparsers, "resume", "resume paused agents (--all also lifts the kill switch)",
        """\
  gitwarden resume payments
  gitwarden resume --all        after `gitwarden stop`
""")
    resume.add_argument("agents", nargs="*", metavar="AGENT")
    resume.add_argument("--all", action="store_true",
                        help="resume every agent and release the kill switch")
    resume.set_defaults(handler=run_resume)

    stop = add_command(
        subparsers, "stop", "kill switch: pause every agent at once (checkpoints go on; "
        "automatic actions wait until `resume --all`)",
        """\
  gitwarden stop
  gitwarden stop --reason "something is deleting files"
""")
    stop.add_argument("--reason", default="kill switch engaged by the user")
    stop.set_defaults(handler=run_stop)


def run_pause(args: argparse.Namespace) -> int:

    workspace, store = open_context(args)
    require_user(workspace, "gitwarden pause")
    with store:
        agents = _selected(workspace, args)
        for agent in agents:
            apply_pause(workspace, store, agent.name, args.reason, by="user")
            print(f"paused {agent.name}")
        refresh_context_files(workspace, store)
    return 0


def run_resume(args: argparse.Namespace) -> int:

    workspace, store = open_context(args)
    require_user(workspace, "gitwarden resume")
    with store:
        if args.all:
            if args.agents:
                raise _usage("give agent names or --all, not both")
            names = apply_resume_all(workspace, store)
            refresh_context_files(workspace, store)
            print(f"resumed {', '.join(names)}" if names else "no agent was paused")
            return 0
        agents = _selected(workspace, args)
        for agent in agents:
            was = apply_resume(workspace, store, agent.name)
            print(f"resumed {agent.name}" if was else f"{agent.name} was not paused")
        refresh_context_files(workspace, store)
        if kill_switch(store):
            print("note: the kill switch is still engaged: automatic actions wait until "
                  "`gitwarden resume --all`")
    return 0


def run_stop(args: argparse.Namespace) -> int:

    workspace, store = open_context(args)
    require_user(workspace, "gitwarden stop")
    with store:
        names = apply_stop(workspace, store, args.reason)
        refresh_context_files(workspace, store)
    print(f"kill switch engaged: paused {len(names)} agents"
          + (f" ({', '.join(names)})" if names else "")
          + "; `gitwarden resume --all` to continue")
    return 0


def _selected(workspace: Any, args: argparse.Namespace) -> list[Any]:
    if args.all and args.agents:
        raise _usage("give agent names or --all, not both")
    if not args.all and not args.agents:
        raise _usage("name the agents (or --all)")
    return list(workspace.agents) if args.all else workspace.select(args.agents)


def _usage(message: str) -> Exception:

    return UsageError(message)
