"""`gitwarden top`: every agent live on one screen; pause, resume, checkpoint, roll back."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.errors import GitwardenError, UsageError

INSTALL_HINT = "pip install 'gitwarden[tui]'"


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "top", "a live full-screen view of every agent; act on one with a key",
        """\
  gitwarden top                 agents, overlaps, activity and events, live
  gitwarden top --interval 2    poll every 2 seconds

keys: enter detail, p pause, r resume, c checkpoint, b rollback (dry run first), l locks,
? help, q quit. Needs Textual: pip install 'gitwarden[tui]'.
""")
    parser.add_argument("--interval", type=float, default=0.5, metavar="SECONDS",
                        help="how often to look for changes (default 0.5)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise UsageError("--interval must be more than 0")
    try:
        # Textual is an optional extra: imported only by the command that needs it.
        from gitwarden.tui.app import TopApp
    except ImportError as exc:
        raise GitwardenError(f"gitwarden top needs Textual, which is not installed: "
                             f"{INSTALL_HINT}") from exc
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("gitwarden top needs a terminal (use `gitwarden status` or "
                         "`gitwarden events --follow` in scripts)")
    workspace = Workspace.load(args.cwd)
    TopApp(workspace, poll_interval=args.interval).run()
    return 0
