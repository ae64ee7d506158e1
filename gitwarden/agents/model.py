"""Agents: the worktrees gitwarden guards, named and shaped by the config."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitwarden.config import AgentConfig, Config
from gitwarden.errors import UsageError
from gitwarden.git.worktrees import Worktree


@dataclass(frozen=True)
class Agent:
    """One agent: a worktree, its branch and its settings."""

    name: str
    path: Path
    branch: str | None
    head: str | None
    git_dir: Path
    is_main: bool
    settings: AgentConfig

    @property
    def exists(self) -> bool:
        return self.path.is_dir()

    @property
    def worktree_state(self) -> str:
        """"missing" when the worktree directory is gone, "detached" or "ok"."""
        if not self.exists:
            return "missing"
        if self.branch is None:
            return "detached"
        return "ok"


def build_agents(worktrees: Sequence[Worktree], config: Config, main_path: Path) -> list[Agent]:
    """Agents from the worktrees: every linked worktree, renamed/excluded by the config."""
    by_path = {_norm(agent_cfg.path, main_path): agent_cfg
               for agent_cfg in config.agents.values() if agent_cfg.path}
    agents: list[Agent] = []
    for worktree in worktrees:
        settings = by_path.get(_norm(str(worktree.path), main_path)) \
            or config.agents.get(worktree.name) \
            or AgentConfig(name=worktree.name)
        if settings.exclude or _owned_by_gitwarden(worktree):
            continue
        if worktree.is_main and not (config.main_agent or (settings.name in config.agents
                                     and settings.path)):
            continue
        agents.append(Agent(
            name=settings.name,
            path=worktree.path,
            branch=worktree.branch,
            head=worktree.head,
            git_dir=worktree.git_dir,
            is_main=worktree.is_main,
            settings=settings,
        ))
    agents.sort(key=lambda a: a.name)
    return agents


def _owned_by_gitwarden(worktree: Worktree) -> bool:
    """Scratch worktrees under <common git dir>/gitwarden/ (health checks) are not agents."""
    if worktree.is_main:
        return False
    state_dir = os.path.normpath(worktree.git_dir.parent.parent / "gitwarden")
    return os.path.normpath(worktree.path).startswith(state_dir + os.sep)


def find_agent(agents: Sequence[Agent], name: str) -> Agent:
    """The agent called `name`, or a usage error listing the known ones."""
    for agent in agents:
        if agent.name == name:
            return agent
    known = ", ".join(a.name for a in agents) or "none"
    raise UsageError(f"unknown agent {name!r} (agents: {known})")


def agent_for_path(agents: Sequence[Agent], path: Path) -> Agent | None:
    """The agent whose worktree contains `path` (deepest worktree wins); both are compared
    with symbolic links resolved, so a link to a worktree is that worktree."""
    target = os.path.realpath(_norm(str(path), Path.cwd()))
    best: Agent | None = None
    best_len = 0
    for agent in agents:
        root = os.path.realpath(_norm(str(agent.path), Path.cwd()))
        if (target == root or target.startswith(root.rstrip(os.sep) + os.sep)) and \
                (best is None or len(root) > best_len):
            best, best_len = agent, len(root)
    return best


def _norm(path: str, relative_to: Path) -> str:
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded):
        expanded = os.path.join(relative_to, expanded)
    return os.path.normpath(expanded)
