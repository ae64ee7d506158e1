"""The `gitwarden` command: dispatch and one-line errors. The parser is built in
gitwarden.commands from its registry: each command module registers its subcommands with
`register(subparsers)` and sets `handler` on its parsers; handlers take the parsed arguments
and return an exit code."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from gitwarden.commands import all_command_modules, build_parser
from gitwarden.errors import EXIT_FAILURE, EXIT_USAGE, GitwardenError, UsageError
from gitwarden.output import error_line, for_terminal, one_line

__all__ = ["all_command_modules", "build_parser", "main", "one_line"]


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
    sys.stderr.write(error_line(message))


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
