"""The `gitwarden` command: argparse parser, dispatch, and one-line errors.

Each module in gitwarden.commands registers its subcommands with `register(subparsers)` and
sets `handler` on its parsers; handlers take the parsed arguments and return an exit code.
Command modules must import nothing heavy at module level: `gitwarden hook` runs on every edit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from gitwarden import __version__
from gitwarden.errors import EXIT_FAILURE, EXIT_USAGE, GitwardenError, UsageError
from gitwarden.output import for_terminal

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
    # lazy: one run imports only the module of the command it runs
    from gitwarden.commands import COMMAND_MODULES

    if command in COMMAND_MODULES:
        return [importlib.import_module(f"gitwarden.commands.{COMMAND_MODULES[command]}")]
    return all_command_modules()


def all_command_modules() -> list[ModuleType]:
    from gitwarden.commands import COMMAND_MODULES

    return [importlib.import_module(f"gitwarden.commands.{name}")
            for name in dict.fromkeys(COMMAND_MODULES.values())]


def _command_word(words: Sequence[str]) -> str | None:
    """The subcommand named in argv (skipping global options), if any."""
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "-C":
            skip = True
        elif not word.startswith("-"):
            return word
        elif word == "--":
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_word(words))
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.parse_args([*words, "--help"])
        return EXIT_USAGE
    return _dispatch(handler, args)


def _dispatch(handler: object, args: argparse.Namespace) -> int:
    assert callable(handler)
    try:
        _enter_directory(args)
        return int(handler(args))
    except GitwardenError as exc:
        _error(exc.message, args)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAILURE
    except PermissionError as exc:
        _error(f"permission denied: {exc.filename or exc}", args)
        return EXIT_FAILURE
    except sqlite3.Error as exc:
        _error(f"state database error: {exc}", args)
        return EXIT_FAILURE
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}", args)
        return EXIT_FAILURE
    except Exception as exc:
        _error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
               args)
        return EXIT_FAILURE


def _enter_directory(args: argparse.Namespace) -> None:
    """`-C DIR` runs the command as if started in DIR, as git does: relative paths and the
    caller's identity (the agent whose worktree DIR is) follow."""
    if getattr(args, "cwd", None) is None:
        return
    directory = Path(os.path.expanduser(str(args.cwd)))
    try:
        os.chdir(directory)
    except OSError as exc:
        raise UsageError(f"-C {for_terminal(str(directory), newlines=False)}: "
                         f"{exc.strerror or exc}") from exc
    args.cwd = Path.cwd()


def _error(message: str, args: argparse.Namespace) -> None:
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exc()
    print(f"gitwarden: error: {for_terminal(message, newlines=False)}", file=sys.stderr)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
