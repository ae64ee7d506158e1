"""The console entry point: a fast path for the agent hook, then the full CLI."""

from __future__ import annotations

import sys


def main() -> int:
    if sys.argv[1:] == ["hook", "claude"]:
        # Runs on every agent edit: skip argparse and the command modules entirely.
        from gitwarden.integrations.claude_hook import main as claude_hook

        return claude_hook()
    from gitwarden.cli import main as cli_main

    return cli_main()
