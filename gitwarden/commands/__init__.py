"""One module per verb group; each defines register(subparsers) and handlers returning an
exit code. Modules here are imported on every run: keep module-level imports light."""

from __future__ import annotations

import argparse
from typing import Any

HELP_FORMATTER = argparse.RawDescriptionHelpFormatter

# Which module defines each command, so that one run imports only the module it needs.
# tests/test_cli.py checks this table against what the modules register.
COMMAND_MODULES = {
    "init": "init", "agent": "agent", "status": "status",
    "checkpoint": "checkpoint", "checkpoints": "checkpoint", "rollback": "checkpoint",
    "prune": "checkpoint",
    "watch": "watch", "conflicts": "conflicts", "events": "events", "log": "log",
    "health": "health",
    "lock": "lock", "unlock": "lock", "locks": "lock", "hook": "hook", "hooks": "hooks",
    "pause": "pause", "resume": "pause", "stop": "pause", "run": "run",
    "request": "request", "inbox": "request", "done": "done", "wait": "done",
    "service": "service", "demo": "demo",
}


def add_command(subparsers: Any, name: str, help_text: str, examples: str,
                **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser with a description and an examples epilog."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text,
        epilog="examples:\n" + examples.rstrip() + "\n",
        formatter_class=HELP_FORMATTER, **kwargs)
    return parser
