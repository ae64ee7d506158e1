"""`gitwarden demo [DIR]`: see the whole loop in a sandbox before using your own repository."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gitwarden.commands import add_command
from gitwarden.demo.scenario import run_demo
from gitwarden.output import print_json


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "demo",
        "play a one-minute scenario in a sandbox: overlap, checkpoint, culprit, rollback",
        """\
  gitwarden demo                       sandbox in a new temporary directory
  gitwarden demo ~/gitwarden-demo      sandbox in this (new or empty) directory
  gitwarden demo --json                also print the facts checked, as JSON, at the end
""")
    parser.add_argument("directory", nargs="?", metavar="DIR",
                        help="where to create the sandbox (new or empty; default: a temp dir)")
    parser.add_argument("--json", action="store_true",
                        help="print the sandbox paths and checked facts as JSON at the end")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:


    directory = Path(args.directory) if args.directory else None
    if directory is not None and args.cwd is not None and not directory.is_absolute():
        directory = args.cwd / directory
    result = run_demo(directory, sys.stdout)
    if args.json:

        print_json(result.as_json())
    return 0
