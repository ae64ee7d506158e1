"""`gitwarden server-hook pre-receive`: the optional guard for self-hosted remotes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gitwarden.commands import add_command
from gitwarden.remote.server_hook import DEFAULT_BRANCHES, check_updates


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "server-hook",
        "guard a self-hosted remote: refuse pushes to agent branches that change paths "
        "locked by another agent",
        """\
  # in the bare repository on the server (Gitea: Settings > Git Hooks > pre-receive;
  # GitLab: <repo>.git/custom_hooks/pre-receive), an executable script:
  #!/bin/sh
  exec gitwarden server-hook pre-receive
  gitwarden server-hook pre-receive --branches 'refs/heads/ai/*'
""")
    parser.add_argument("hook", choices=["pre-receive"], help="the hook to run")
    parser.add_argument("--branches", default=DEFAULT_BRANCHES,
                        help=f"which refs are agent branches (glob; default {DEFAULT_BRANCHES}); "
                        "the last path component is the agent name")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    refusals = check_updates(args.cwd or Path.cwd(), sys.stdin.read().splitlines(),
                             branches=args.branches)
    for refusal in refusals:
        print(refusal.message(), file=sys.stderr)
    return 1 if refusals else 0
