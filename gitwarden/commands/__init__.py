"""One module per verb group; each defines register(subparsers) and handlers returning an
exit code. Modules here are imported on every run: keep module-level imports light."""

from __future__ import annotations

import argparse
from typing import Any

HELP_FORMATTER = argparse.RawDescriptionHelpFormatter

# The one registry of commands: each command and the module that defines it, in the order
# `gitwarden --help` lists them. One run imports only the module of the command it runs;
# tests/commands/test_registry.py checks this table against what the modules register.
COMMAND_MODULES = {
    "demo": "demo", "init": "init", "agent": "agent", "status": "status",
    "checkpoint": "checkpoint", "checkpoints": "checkpoint", "rollback": "checkpoint",
    "prune": "checkpoint",
    "watch": "watch", "lock": "lock", "unlock": "lock", "locks": "lock",
    "conflicts": "conflicts", "log": "log", "events": "events",
    "pause": "pause", "resume": "pause", "stop": "pause",
    "health": "health", "request": "request", "inbox": "request",
    "done": "done", "wait": "done", "run": "run",
    "service": "service", "notify": "notify", "doctor": "doctor", "hook": "hook",
    "hooks": "hooks", "mcp": "mcp",
}


def add_command(subparsers: Any, name: str, help_text: str, examples: str,
                **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser with a description and an examples epilog."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text,
        epilog="examples:\n" + examples.rstrip() + "\n",
        formatter_class=HELP_FORMATTER, **kwargs)
    return parser
