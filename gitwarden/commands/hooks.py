"""`gitwarden hooks install|uninstall`: agent tools' hooks and the git guards."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gitwarden.agents.caller import require_user
from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.errors import UsageError
from gitwarden.integrations import agent_hooks, claude_settings, git_hooks, mcp_config
from gitwarden.views.context_refresh import CONTEXT_EXCLUDES, ensure_excluded

CREATED_LOG = claude_settings.CREATED_LOG


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "hooks", "install or remove agent tools' hooks and the git guards",
        """\
  gitwarden hooks install              each agent's own tool (its `tool` setting or the one
                                       detected in its worktree, else Claude Code) + git guards
  gitwarden hooks install --all        Claude Code, Codex, Gemini CLI and opencode hooks in
                                       every agent worktree + git guards
  gitwarden hooks install --codex      only .codex/hooks.json of each agent
  gitwarden hooks install --claude --mcp   also register `gitwarden mcp` in .mcp.json
  gitwarden hooks uninstall --git      remove the guards, restore your own hooks
""")
    verbs = parser.add_subparsers(dest="verb", metavar="<verb>", required=True,
                                  parser_class=type(parser))
    for verb, text in (("install", "install the hooks (each agent's tool + git guards "
                        "unless some are named)"),
                       ("uninstall", "remove the hooks gitwarden installed")):
        sub = add_command(verbs, verb, text, f"  gitwarden hooks {verb} --claude --git\n"
                          f"  gitwarden hooks {verb} --all\n")
        sub.add_argument("--claude", action="store_true",
                         help="Claude Code hooks (.claude/settings.local.json)")
        sub.add_argument("--codex", action="store_true", help="Codex CLI hooks (.codex/hooks.json)")
        sub.add_argument("--gemini", action="store_true",
                         help="Gemini CLI hooks (.gemini/settings.json)")
        sub.add_argument("--opencode", action="store_true",
                         help="opencode plugin (.opencode/plugins/gitwarden.js)")
        sub.add_argument("--all", action="store_true", help="every agent tool and the git guards")
        sub.add_argument("--git", action="store_true", help="git pre-commit/pre-push guards")
        sub.add_argument("--mcp", action="store_true", help="register `gitwarden mcp` in the "
                         "MCP config of the tools installed (Claude .mcp.json, Gemini "
                         "settings.json, opencode opencode.json)")
        sub.set_defaults(handler=run_hooks)


def run_hooks(args: argparse.Namespace) -> int:

    workspace = Workspace.load(args.cwd)
    require_user(workspace, f"gitwarden hooks {args.verb}")
    named = [tool for tool in agent_hooks.HOOKED_TOOLS if getattr(args, tool) or args.all]
    default = not named and not args.git and not args.all
    install = args.verb == "install"
    state_dir = workspace.repo.state_dir
    created_log = state_dir / CREATED_LOG
    if named or default:
        agents = [agent for agent in workspace.agents if agent.exists]
        plan = {agent.name: (agent, named or (
            _own_tools(agent.path, agent.settings.tool, state_dir)
            if install else list(agent_hooks.HOOKED_TOOLS))) for agent in agents}
        if install:
            problems = [problem for agent, tools in plan.values() for tool in tools
                        if (problem := agent_hooks.preflight(agent.path, tool))]
            if problems:
                raise UsageError("; ".join(problems))
            ensure_excluded(workspace.repo.common_dir,
                            CONTEXT_EXCLUDES + agent_hooks.exclude_patterns()
                            + mcp_config.exclude_patterns())
        if not agents:
            print("no agent worktrees: nothing to do for agent tools")
        for name, (agent, tools) in plan.items():
            if install and not tools:
                print(f"{name}: {agent.settings.tool} has no hooks: the git guards and the "
                      "watcher cover it")
            for tool in tools:
                # uninstall: our MCP entry first, so a settings file we created empties
                mcp_line = (mcp_config.register(agent.path, tool) if install and args.mcp
                            else None if install else mcp_config.unregister(agent.path, tool))
                line = (agent_hooks.install(agent.path, tool, created_log) if install
                        else agent_hooks.uninstall(agent.path, tool, created_log))
                for text in (line, mcp_line):
                    if text:
                        print(f"{name}: {text}")
        agent_hooks.remember_installed(
            state_dir, named or sorted({t for _, tools in plan.values() for t in tools}),
            install)
    if args.git or args.all or default:
        directory = git_hooks.hooks_dir(workspace.repo.main_worktree, workspace.repo.common_dir)
        lines = git_hooks.install(directory) if install else git_hooks.uninstall(directory)
        for line in lines:
            print(line)
    return 0


def _own_tools(worktree: Path, configured: str | None, state_dir: Path) -> list[str]:
    """An agent's own hooked tools: configured (none for aider & co), else detected or
    installed before, else Claude Code."""
    tools = agent_hooks.tools_for(worktree, configured, state_dir)
    return tools if tools or configured else ["claude"]
