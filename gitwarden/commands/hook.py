"""`gitwarden hook claude|codex|gemini|opencode|pre-commit|pre-push`: the guards agent tools
and git call."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.commands import add_command


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "hook", "run a guard hook (called by agent tools and git, not by people)",
        """\
  echo '{"tool_name":"Edit","tool_input":{"file_path":"/repo/a.py"},"cwd":"/repo"}' \\
      | gitwarden hook claude
  gitwarden hook pre-commit          what the installed git pre-commit guard runs
  GITWARDEN_BYPASS=1 git commit ...  skip the git guards once (logged)
""")
    kinds = parser.add_subparsers(dest="hook_kind", metavar="<hook>", required=True,
                                  parser_class=type(parser))
    claude = add_command(kinds, "claude", "Claude Code PreToolUse/PostToolUse hook (JSON on stdin)",
                         "  gitwarden hooks install --claude   installs it for every agent\n")
    claude.set_defaults(handler=run_claude)
    for tool, text in (("claude-context", "Claude Code SessionStart/UserPromptSubmit/Stop "
                        "hook (context for the agent)"),
                       ("codex", "Codex CLI hook (PreToolUse/PostToolUse/SessionStart/"
                        "UserPromptSubmit/Stop JSON on stdin)"),
                       ("gemini", "Gemini CLI hook (BeforeTool/AfterTool/SessionStart/"
                        "BeforeAgent/AfterAgent JSON on stdin)"),
                       ("opencode", "called by gitwarden's opencode plugin (JSON on stdin)")):
        install = f"  gitwarden hooks install --{tool.split('-')[0]}   installs it in every agent\n"
        adapter = add_command(kinds, tool, text, install)
        adapter.set_defaults(handler=run_adapter, adapter=tool)
    pre_commit = add_command(kinds, "pre-commit", "refuse commits touching locked or "
                             "out-of-scope files, or made by a paused agent",
                             "  gitwarden hooks install --git\n")
    pre_commit.set_defaults(handler=run_pre_commit)
    pre_push = add_command(kinds, "pre-push", "refuse pushes of commits touching files locked "
                           "by others or out of scope (push lines on stdin)",
                           "  gitwarden hooks install --git\n")
    pre_push.add_argument("remote", nargs="?")
    pre_push.add_argument("url", nargs="?")
    pre_push.set_defaults(handler=run_pre_push)


def run_claude(args: argparse.Namespace) -> int:
    # lazy: hooks run on every agent edit and commit; each loads only its own integration
    from gitwarden.integrations.claude_hook import main

    return main()


def run_adapter(args: argparse.Namespace) -> int:
    # lazy: each agent tool's hook loads only its own adapter
    import importlib

    from gitwarden.integrations import HOOK_MODULES

    status: int = importlib.import_module(HOOK_MODULES[args.adapter]).main()
    return status


def run_pre_commit(args: argparse.Namespace) -> int:
    from gitwarden.integrations.guard import run_guard

    return run_guard("pre-commit", args.cwd)


def run_pre_push(args: argparse.Namespace) -> int:
    from gitwarden.integrations.guard import run_guard

    return run_guard("pre-push", args.cwd)
