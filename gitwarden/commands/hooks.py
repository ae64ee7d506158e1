"""`gitwarden hooks install|uninstall`: the Claude Code hook and the git guards."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.agents.caller import require_user
from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.errors import UsageError
from gitwarden.integrations import claude_settings, git_hooks
from gitwarden.views.context_refresh import CONTEXT_EXCLUDES, ensure_excluded

CREATED_LOG = claude_settings.CREATED_LOG


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "hooks", "install or remove the Claude Code hook and git guards",
        """\
  gitwarden hooks install              both: Claude Code hook in every agent + git guards
  gitwarden hooks install --claude     only .claude/settings.local.json of each agent
  gitwarden hooks install --git        only the pre-commit / pre-push guards
  gitwarden hooks uninstall --git      remove the guards, restore your own hooks
""")
    verbs = parser.add_subparsers(dest="verb", metavar="<verb>", required=True,
                                  parser_class=type(parser))
    for verb, text in (("install", "install the hooks (both kinds unless one is named)"),
                       ("uninstall", "remove the hooks gitwarden installed")):
        sub = add_command(verbs, verb, text, f"  gitwarden hooks {verb} --claude --git\n")
        sub.add_argument("--claude", action="store_true",
                         help="Claude Code PreToolUse hook in each agent worktree")
        sub.add_argument("--git", action="store_true", help="git pre-commit/pre-push guards")
        sub.set_defaults(handler=run_hooks)


def run_hooks(args: argparse.Namespace) -> int:

    workspace = Workspace.load(args.cwd)
    require_user(workspace, f"gitwarden hooks {args.verb}")
    both = not args.claude and not args.git
    install = args.verb == "install"
    if args.claude or both:
        agents = [agent for agent in workspace.agents if agent.exists]
        created_log = workspace.repo.state_dir / CREATED_LOG
        if install:
            tracked = [str(agent.path / claude_settings.SETTINGS) for agent in agents
                       if claude_settings.is_tracked(agent.path)]
            if tracked:
                raise UsageError(f"{', '.join(tracked)} is committed to git; gitwarden does not "
                                 "edit committed files: untrack it (git rm --cached) or add "
                                 "the hook `gitwarden hook claude` to it yourself")
            ensure_excluded(workspace.repo.common_dir, CONTEXT_EXCLUDES)
        if not agents:
            print("no agent worktrees: nothing to do for Claude Code")
        for agent in agents:
            if install:
                path = claude_settings.install(agent.path, created_log=created_log)
                print(f"{agent.name}: Claude Code hook in {path}")
            elif claude_settings.uninstall(agent.path, created_log=created_log):
                print(f"{agent.name}: removed the Claude Code hook")
    if args.git or both:
        directory = git_hooks.hooks_dir(workspace.repo.main_worktree, workspace.repo.common_dir)
        lines = git_hooks.install(directory) if install else git_hooks.uninstall(directory)
        for line in lines:
            print(line)
    return 0
