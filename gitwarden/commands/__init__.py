"""One module per verb group; each defines register(subparsers) and handlers returning an
exit code. Modules here are imported on every run: keep module-level imports light."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from gitwarden import __version__
from gitwarden.errors import EXIT_USAGE

HELP_FORMATTER = argparse.RawDescriptionHelpFormatter

# The one registry of commands: each command and the module that defines it, in the order
# `gitwarden --help` lists them. One run imports only the module of the command it runs;
# tests/commands/test_registry.py checks this table against what the modules register.
COMMAND_MODULES = {
    "demo": "demo", "init": "init", "agent": "agent", "status": "status",
    "checkpoint": "checkpoint", "checkpoints": "rollback", "rollback": "rollback",
    "prune": "rollback",
    "watch": "watch", "lock": "lock", "unlock": "lock", "locks": "lock",
    "conflicts": "conflicts", "log": "log", "events": "events",
    "pause": "pause", "resume": "pause", "stop": "pause",
    "health": "health", "request": "request", "inbox": "request",
    "done": "done", "wait": "done", "run": "run",
    "sync": "sync", "land": "land", "queue": "land",
    "service": "service", "notify": "notify", "doctor": "doctor", "hook": "hook",
    "hooks": "hooks", "mcp": "mcp", "top": "top",
    "completion": "completion", "man": "completion", "__complete": "completion",
    "remote": "remote", "server-hook": "server_hook",
}


def add_command(subparsers: Any, name: str, help_text: str, examples: str,
                **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser with a description and an examples epilog."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text,
        epilog="examples:\n" + examples.rstrip() + "\n",
        formatter_class=HELP_FORMATTER, **kwargs)
    return parser


EPILOG = """\
examples:
  gitwarden status              agents, their changes and overlapping files
  gitwarden init                write a starter gitwarden.toml
  gitwarden agent add payments  new worktree + branch for an agent
  gitwarden <command> --help    help and examples for one command
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"gitwarden: error: {message} (see `{self.prog} --help`)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only the module defining that command is imported."""
    parser = _Parser(
        prog="gitwarden",
        description="A git-native guard for coding agents working in parallel worktrees.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gitwarden {__version__}")
    parser.add_argument("-C", dest="cwd", metavar="DIR", type=Path, default=None,
                        help="run as if started in DIR")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>",
                                       parser_class=_Parser)
    for module in _command_modules(command):
        module.register(subparsers)
    return parser


def _command_modules(command: str | None = None) -> list[ModuleType]:
    """The module defining `command` only (one run imports only what it runs), else all."""
    if command in COMMAND_MODULES:
        return [importlib.import_module(f"gitwarden.commands.{COMMAND_MODULES[command]}")]
    return all_command_modules()


def all_command_modules() -> list[ModuleType]:
    return [importlib.import_module(f"gitwarden.commands.{name}")
            for name in dict.fromkeys(COMMAND_MODULES.values())]
