"""`gitwarden watch`: run the daemon in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gitwarden.commands import add_command
from gitwarden.daemon.service import run_daemon
from gitwarden.integrations import hook_answers


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "watch",
        "run the daemon in the foreground: live overlap detection, checkpoints, notifications",
        """\
  gitwarden watch                  watch this repository until Ctrl-C / SIGTERM
  gitwarden watch --json-log       log JSON lines on stderr (for service managers)
  kill -HUP <pid>                  reload gitwarden.toml (an invalid file is refused)
""")
    parser.add_argument("--json-log", action="store_true", help="log JSON lines on stderr")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # The hook and guard calls the installed hook client sends (gitwarden hooks install).
    return run_daemon(args.cwd or Path.cwd(), json_log=args.json_log,
                      answers={"hook": hook_answers.answer})
