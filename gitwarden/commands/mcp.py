"""`gitwarden mcp`: serve gitwarden's agent tools over MCP (stdio) for the agent whose
worktree is the current directory."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.commands import add_command
from gitwarden.errors import UsageError


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "mcp", "run the MCP server (stdio) for the agent of this worktree",
        """\
  cd ../repo-agents/payments && gitwarden mcp     what an agent tool's MCP config runs
  gitwarden hooks install --claude --mcp          registers it in each agent's .mcp.json
""")
    parser.set_defaults(handler=run_mcp)


def run_mcp(args: argparse.Namespace) -> int:
    try:
        # lazy: the SDK is an optional extra and heavy to import
        from gitwarden.integrations.mcp_server import serve
    except ImportError as exc:
        raise UsageError(f"the MCP server needs the optional extra: pip install "
                         f"'gitwarden[mcp]' ({exc})") from exc
    serve(str(args.cwd) if args.cwd else None)
    return 0
