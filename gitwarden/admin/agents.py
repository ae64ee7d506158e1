"""Creating and retiring agents: a worktree on its own branch, recorded in the config."""

from __future__ import annotations

import re
import time
from pathlib import Path

from gitwarden.admin.removal import (
    agent_table_text,
    finish_removal,
    remove_saving_everything,
)
from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.config import AgentConfig, agent_name_problem, load_config, render_agent_table
from gitwarden.errors import UsageError
from gitwarden.git.runner import run_git, split_z
from gitwarden.integrations import agent_hooks, claude_settings
from gitwarden.output import for_terminal
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event
from gitwarden.views.context_refresh import ensure_excluded, refresh_context_files


def default_agent_path(workspace: Workspace, name: str) -> Path:
    main = workspace.repo.main_worktree
    return main.parent / f"{main.name}-agents" / name


def add_agent(workspace: Workspace, name: str, *, scope: list[str], start: str | None,
              path: str | None, branch: str | None, task: str | None,
              policy: str | None, tool: str | None = None) -> Agent:
    """Create the worktree and branch, append [agents.NAME] to the config, return the agent."""
    problem = agent_name_problem(name)
    if problem:
        raise UsageError(f"invalid {for_terminal(problem)}")
    if any(a.name == name for a in workspace.agents):
        raise UsageError(f"agent {name!r} already exists")
    target = Path(path).expanduser().resolve() if path else default_agent_path(workspace, name)
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} already exists and is not empty (choose --path)")
    branch_name = branch or f"agent/{name}"
    main = workspace.repo.main_worktree
    if run_git(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch_name}"], main,
               check=False).returncode == 0:
        raise UsageError(f"branch {branch_name!r} already exists (choose --branch)")
    start_point = start or workspace.base_branch
    if run_git(["rev-parse", "--verify", "--quiet", f"{start_point}^{{commit}}"], main,
               check=False).returncode != 0:
        raise UsageError(f"--from {start_point!r} is not a commit in this repository")
    target.parent.mkdir(parents=True, exist_ok=True)
    run_git(["worktree", "add", "-b", branch_name, str(target), start_point], main)
    settings = AgentConfig(name=name, path=None if target.name == name else str(target),
                           scope=tuple(scope), task=task, policy=policy or "pause",
                           tool=tool)
    _append_agent_table(workspace, settings)
    workspace.config = load_config(workspace.repo.config_path)
    workspace.refresh()
    _write_context_files(workspace)
    with Store.open(workspace.repo) as store:
        record_event(store, EventKind.AGENT_ADDED,
                     f"agent {name} added: {target} on branch {branch_name}", agent=name,
                     data={"path": str(target), "branch": branch_name, "from": start_point})
    for agent in workspace.agents:
        if agent.path.resolve() == target.resolve():
            return agent
    return workspace.agent(name)


def install_agent_hooks(workspace: Workspace, agent: Agent) -> list[str]:
    """Give a new agent the hooks of its tool: its `tool` setting, else the tool detected in
    its worktree, else the tools `gitwarden hooks install` covered before (none: nothing).
    The lines say what was done, or what covers a tool without hooks."""
    state_dir = workspace.repo.state_dir
    tools = agent_hooks.tools_for(agent.path, agent.settings.tool, state_dir)
    if agent.settings.tool and not tools:
        return [f"{agent.name}: {agent.settings.tool} has no hooks: the git guards and the "
                f"watcher cover it; start it with `gitwarden run --agent {agent.name} -- "
                "...` so a pause stops it"]
    lines = []
    if tools:
        ensure_excluded(workspace.repo.common_dir, agent_hooks.exclude_patterns())
    for tool in tools:
        lines.append(f"{agent.name}: " + agent_hooks.install(
            agent.path, tool, state_dir / claude_settings.CREATED_LOG))
    return lines


def _write_context_files(workspace: Workspace) -> None:
    """Give the new agent its ASSIGNMENT.md and STATE.md right away."""

    with Store.open(workspace.repo) as store:
        refresh_context_files(workspace, store)


def remove_agent(workspace: Workspace, name: str, *, force: bool,
                 delete_branch: bool) -> list[str]:
    """Remove the agent's worktree (refusing to lose uncommitted work) and its config table."""
    agent = workspace.agent(name)
    if agent.is_main:
        raise UsageError(f"{name!r} is the main worktree; it cannot be removed")
    main = workspace.repo.main_worktree
    messages: list[str] = []
    if delete_branch:
        _check_branch_deletable(workspace, agent, force=force)
    if agent.exists:
        with Store.open(workspace.repo) as store:
            if finish_removal(workspace, store, name):
                # A removal killed after saving everything: its saved state is the one kept.
                messages.append(f"finished the interrupted removal of {name}")
            else:
                if not force:
                    _refuse_if_unsaved(agent)
                messages += remove_saving_everything(workspace, store, agent,
                                                     agent_table_text(workspace, name))
    else:
        run_git(["worktree", "prune"], main)
    messages.append(f"removed worktree {agent.path}")
    if delete_branch and agent.branch:
        messages.append(_delete_branch(workspace, agent, force=force))
    elif agent.branch:
        messages.append(f"kept branch {agent.branch}")
    _remove_agent_table(workspace, name)
    workspace.refresh()
    with Store.open(workspace.repo) as store:
        record_event(store, EventKind.AGENT_REMOVED, f"agent {name} removed: "
                     + "; ".join(messages), agent=name,
                     data={"path": str(agent.path), "branch": agent.branch,
                           "branch_deleted": bool(delete_branch and agent.branch)})
    return messages


def _unmerged_commits(workspace: Workspace, agent: Agent) -> int:
    """How many commits of the agent's branch no other branch contains."""
    assert agent.branch is not None
    # --exclude patterns for --branches leave out the refs/heads/ prefix.
    proc = run_git(["rev-list", "--count", f"refs/heads/{agent.branch}", "--not",
                    f"--exclude={agent.branch}", "--branches"],
                   workspace.repo.main_worktree)
    return int(proc.stdout.strip() or 0)


def _check_branch_deletable(workspace: Workspace, agent: Agent, *, force: bool) -> None:
    if agent.branch is None or force:
        return
    unmerged = _unmerged_commits(workspace, agent)
    if unmerged:
        raise UsageError(
            f"branch {agent.branch} has {unmerged} commit(s) no other branch contains; merge "
            "it first, or use --force (a backup ref under refs/gitwarden/backups/ is kept)")


def _delete_branch(workspace: Workspace, agent: Agent, *, force: bool) -> str:
    """Delete the agent's branch, keeping its tip under refs/gitwarden/backups/."""

    assert agent.branch is not None
    main = workspace.repo.main_worktree
    tip = run_git(["rev-parse", "--verify", f"refs/heads/{agent.branch}"], main).stdout
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    backup = f"refs/gitwarden/backups/{agent.name}/{stamp}-deleted-branch"
    run_git(["update-ref", "-m", "gitwarden: branch deleted by agent remove", backup,
             tip.decode().strip(), ""], main)
    run_git(["branch", "-D", agent.branch], main)
    return f"deleted branch {agent.branch} (tip kept as {backup})"


def _refuse_if_unsaved(agent: Agent) -> None:
    """Uncommitted work or files git ignores: removing needs --force (which saves them)."""
    dirty = run_git(["status", "--porcelain", "--untracked-files=all"], agent.path).stdout
    ignored = [p for p in split_z(run_git(["ls-files", "-z", "--others", "--ignored",
                                           "--exclude-standard", "--directory"],
                                          agent.path).stdout)
               if not p.startswith(".gitwarden/")]
    if dirty.strip() or ignored:
        what = "uncommitted work" if dirty.strip() else \
            "ignored files (" + ", ".join(ignored[:5]) + ")"
        raise UsageError(
            f"agent {agent.name!r} has {what} in {agent.path}; commit it, or use --force "
            "(a checkpoint is taken and files no checkpoint holds go to the stash first, "
            f"and `gitwarden agent restore {agent.name}` brings everything back)")


def _append_agent_table(workspace: Workspace, settings: AgentConfig) -> None:
    path = workspace.repo.config_path
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(_agent_header(settings.name).match(line) for line in existing.splitlines()):
        return
    separator = "" if not existing or existing.endswith("\n\n") else \
        ("\n" if existing.endswith("\n") else "\n\n")
    path.write_text(existing + separator + render_agent_table(settings), encoding="utf-8")


def _agent_header(name: str) -> re.Pattern[str]:
    """The table header of one agent, bare or quoted: [agents.x], [agents."x.y"]."""
    quoted = rf"(?:{re.escape(name)}|\"{re.escape(name)}\"|'{re.escape(name)}')"
    return re.compile(rf"^\s*\[\s*agents\s*\.\s*{quoted}\s*\]\s*(#.*)?$")


def _remove_agent_table(workspace: Workspace, name: str) -> None:
    path = workspace.repo.config_path
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = _agent_header(name)
    kept: list[str] = []
    skipping = False
    for line in lines:
        if header.match(line):
            skipping = True
            continue
        if skipping and re.match(r"^\s*\[", line):
            skipping = False
        if not skipping:
            kept.append(line)
    path.write_text("".join(kept), encoding="utf-8")
