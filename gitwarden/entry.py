"""The console entry point: fast paths for the agent hooks and for a checkpoint a daemon
takes, then the full CLI."""

from __future__ import annotations

import sys

from gitwarden.integrations import HOOK_MODULES


def main() -> int:
    if sys.argv[1:] == ["hook", "claude"]:
        # Runs on every agent edit: skip argparse and the command modules entirely.
        from gitwarden.integrations.claude_hook import main as claude_hook

        return claude_hook()
    if len(sys.argv) == 3 and sys.argv[1] == "hook" and sys.argv[2] in HOOK_MODULES:
        import importlib

        adapter: int = importlib.import_module(HOOK_MODULES[sys.argv[2]]).main()
        return adapter
    if "checkpoint" in sys.argv[1:4]:
        # Its start-up is most of its cost: a running daemon is asked before the parser and
        # the command modules are imported (it answers from memory).
        from gitwarden.control.checkpoint_client import run as checkpoint_by_daemon

        code = checkpoint_by_daemon(sys.argv[1:])
        if code is not None:
            return code
    from gitwarden.cli import main as cli_main

    return cli_main()
