"""`gitwarden agent add|remove|list`: create and retire agent worktrees."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.admin.agents import add_agent, install_agent_hooks, remove_agent
from gitwarden.admin.removal import restore_agent
from gitwarden.agents.caller import require_user
from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.config import AGENT_TOOLS
from gitwarden.coordination.pauses import paused_agents
from gitwarden.output import paint, print_json, short, table
from gitwarden.store.db import DB_NAME, Store


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "agent", "add, remove or list agents (worktree + branch)",
        """\
  gitwarden agent add payments --scope 'src/payments/**'
  gitwarden agent add docs --from main --path ../docs-wt --task "update the docs"
  gitwarden agent add review --tool codex      with Codex's hooks in its worktree
  gitwarden agent remove payments --delete-branch
  gitwarden agent restore payments      after a removal: worktree, files, stash back
  gitwarden agent list --json
""")
    verbs = parser.add_subparsers(dest="verb", metavar="<verb>", required=True,
                                  parser_class=type(parser))
    add = add_command(verbs, "add", "create a worktree on a new branch and record the agent",
                      "  gitwarden agent add payments --scope 'src/payments/**'\n")
    add.add_argument("name")
    add.add_argument("--scope", action="append", default=[], metavar="GLOB",
                     help="paths the agent may change (repeatable)")
    add.add_argument("--from", dest="start", metavar="REF", help="start point (default: base)")
    add.add_argument("--path", help="worktree directory (default: <repo>-agents/NAME)")
    add.add_argument("--branch", help="branch name (default: agent/NAME)")
    add.add_argument("--task", help="what the agent should do (shown in its ASSIGNMENT.md)")
    add.add_argument("--policy", choices=("notify", "pause", "revert"),
                     help="what to do when the agent breaks the build")
    add.add_argument("--tool", choices=AGENT_TOOLS,
                     help="the agent tool it runs: its hooks are installed (default: detected, "
                     "else those `gitwarden hooks install` installed)")
    add.set_defaults(handler=run_add)

    remove = add_command(verbs, "remove", "remove an agent's worktree (keeps its branch)",
                         "  gitwarden agent remove payments\n"
                         "  gitwarden agent remove payments --force --delete-branch\n")
    remove.add_argument("name", metavar="AGENT")
    remove.add_argument("--force", action="store_true",
                        help="remove even with uncommitted work or ignored files (saved "
                             "first: checkpoint + stash; `agent restore` brings them back)")
    remove.add_argument("--delete-branch", action="store_true", help="also delete the branch")
    remove.set_defaults(handler=run_remove)

    restore = add_command(verbs, "restore",
                          "re-create a removed agent's worktree from what its removal saved",
                          "  gitwarden agent restore payments\n")
    restore.add_argument("name")
    restore.set_defaults(handler=run_restore)

    listing = add_command(verbs, "list", "list agents", "  gitwarden agent list --json\n")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)


def run_add(args: argparse.Namespace) -> int:

    workspace = Workspace.load(args.cwd)
    require_user(workspace, "gitwarden agent add")
    agent = add_agent(workspace, args.name, scope=args.scope, start=args.start, path=args.path,
                      branch=args.branch, task=args.task, policy=args.policy, tool=args.tool)
    print(f"added agent {agent.name}: {agent.path} on branch {agent.branch}")
    for line in install_agent_hooks(workspace, agent):
        print(line)
    return 0


def run_remove(args: argparse.Namespace) -> int:

    workspace = Workspace.load(args.cwd)
    require_user(workspace, "gitwarden agent remove")
    for line in remove_agent(workspace, args.name, force=args.force,
                             delete_branch=args.delete_branch):
        print(line)
    return 0


def run_restore(args: argparse.Namespace) -> int:

    workspace = Workspace.load(args.cwd)
    with Store.open(workspace.repo) as store:
        for line in restore_agent(workspace, store, args.name):
            print(line)
    return 0


def run_list(args: argparse.Namespace) -> int:

    workspace = Workspace.load(args.cwd)
    paused = _paused(workspace)
    items: list[dict[str, Any]] = [
        {"name": a.name, "path": str(a.path), "branch": a.branch, "head": a.head,
         "state": "paused" if a.name in paused and a.worktree_state == "ok"
         else a.worktree_state,
         "paused": paused.get(a.name), "scope": list(a.settings.scope)}
        for a in workspace.agents]
    if args.json:
        print_json({"agents": items})
    else:
        print(table(["agent", "branch", "head", "state", "path"],
                    [[i["name"], i["branch"] or "(detached)", short(i["head"]),
                      _painted(i["state"]), i["path"]] for i in items]))
    return 0


def _paused(workspace: Workspace) -> dict[str, str]:
    """Paused agents and why, from the state store (none when gitwarden has no state yet)."""
    if not (workspace.repo.state_dir / DB_NAME).exists():
        return {}
    with Store.open(workspace.repo) as store:
        return {name: info.reason for name, info in paused_agents(store).items()}


def _painted(state: str) -> str:
    if state == "ok":
        return state
    return paint(state, "red" if state in ("missing", "paused") else "yellow")
