"""The repository, its config and its agents, loaded once per command."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from gitwarden.agents.model import Agent, build_agents, find_agent
from gitwarden.config import Config, load_config, location_of
from gitwarden.errors import ConfigError, UsageError
from gitwarden.git.changes import resolve_base
from gitwarden.git.repository import Repo, locate_repo
from gitwarden.git.worktrees import Worktree, list_worktrees


@dataclass
class Workspace:
    repo: Repo
    config: Config
    _worktrees: list[Worktree] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, start: Path | str | None = None) -> Workspace:
        repo = locate_repo(start)
        return cls(repo=repo, config=load_config(repo.config_path))

    @property
    def worktrees(self) -> list[Worktree]:
        if self._worktrees is None:
            self._worktrees = list_worktrees(self.repo)
        return self._worktrees

    @cached_property
    def agents(self) -> list[Agent]:
        return build_agents(self.worktrees, self.config, self.repo.main_worktree)

    def agent(self, name: str) -> Agent:
        return find_agent(self.agents, name)

    def select(self, names: list[str] | None) -> list[Agent]:
        """The named agents (all when none are named); unknown names are usage errors."""
        if not names:
            return list(self.agents)
        return [self.agent(name) for name in names]

    @cached_property
    def base_branch(self) -> str:
        if self.config.base:
            return self.config.base
        main = next(w for w in self.worktrees if w.is_main)
        if main.branch is None:
            raise UsageError("the main worktree has a detached HEAD: set `base` in "
                             "gitwarden.toml to the integration branch")
        return main.branch

    def base_commit(self) -> str:
        """The commit the base branch points at now; a located config error if it is wrong."""

        try:
            return resolve_base(self.repo.main_worktree, self.base_branch)
        except UsageError as exc:
            if self.config.base and self.config.path:
                where = location_of(self.config.path, ("base",))
                raise ConfigError(f"{where}: base: {self.config.base!r} is not a branch or "
                                  "commit in this repository") from exc
            raise

    def base_is_unborn(self) -> bool:
        """Whether the base branch is the main worktree's branch and has no commit yet."""
        main = next((w for w in self.worktrees if w.is_main), None)
        if main is None or main.head is not None:
            return False
        return self.config.base is None or self.config.base == main.branch

    def refresh(self) -> None:
        """Forget cached worktrees and agents (after a worktree was added or removed)."""
        self._worktrees = None
        self.__dict__.pop("agents", None)
