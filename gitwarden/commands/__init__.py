"""One module per verb group; each defines register(subparsers) and handlers returning an
exit code. Modules here are imported on every run: keep module-level imports light."""

from __future__ import annotations

import argparse
from typing import Any

HELP_FORMATTER = argparse.RawDescriptionHelpFormatter


def add_command(subparsers: Any, name: str, help_text: str, examples: str,
                **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser with a description and an examples epilog."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text,
        epilog="examples:\n" + examples.rstrip() + "\n",
        formatter_class=HELP_FORMATTER, **kwargs)
    return parser
