"""Recording where agents stand against the base as the daemon sees it change: a `base.stale`
event when an agent falls behind, a `base.conflict` event (and one notification) when its work
starts conflicting with the base, each told once until the finding goes away.

Owned by the daemon's pipeline thread; nothing here is thread-safe."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gitwarden.agents.model import Agent
from gitwarden.errors import GitwardenError
from gitwarden.overlaps.base import BaseAwareness, BaseStanding, base_target
from gitwarden.store.events import EventKind, notice

log = logging.getLogger("gitwarden.pipeline")

if TYPE_CHECKING:
    from gitwarden.agents.workspace import Workspace

Emit = Callable[..., None]


class BaseRecorder:
    """Standings of every agent against the base, and what was told about them."""

    def __init__(self, awareness: BaseAwareness, emit: Emit) -> None:
        self.awareness = awareness
        self._emit = emit
        self.standings: dict[str, BaseStanding] = {}
        self._told_conflict: dict[str, frozenset[str]] = {}
        self._told_stale: dict[str, str] = {}  # agent -> base commit it was told about
        self.due: set[str] = set()  # agents whose work changed since they were compared
        self._target: tuple[str, str] | None = None

    def compare(self, workspace: Workspace, base_commit: str, agents: Mapping[str, Agent],
                committed: Callable[[str], set[str]], dirty: Callable[[str], set[str]]) -> bool:
        """Compare the agents whose work changed (all of them when the base moved) with the
        base; True when a standing changed."""
        try:
            target = base_target(workspace.repo.main_worktree, workspace.base_branch,
                                 base_commit, workspace.config.base_sync.remote)
        except GitwardenError as exc:
            log.warning("cannot read the base: %s", exc)
            return False
        due = set(agents) if target != self._target else self.due
        self._target = target
        self.due = set()
        changed = False
        for name in sorted(due & set(agents)):
            view = agents[name]
            before = self.standings.get(name)
            after = self.update(name, view.path, view.head, target[0], target[1],
                                committed(name), dirty(name))
            changed = changed or before is None or before.as_json() != after.as_json()
        return changed

    def update(self, agent: str, worktree: Path, head: str | None, base_name: str,
               base_commit: str, committed: Iterable[str],
               uncommitted: Iterable[str]) -> BaseStanding:
        try:
            standing = self.awareness.standing(agent, worktree, head, base_commit, committed,
                                               uncommitted)
        except Exception as exc:  # a prediction must never stop the pipeline
            log.warning("cannot compare %s with the base: %s", agent, exc)
            return self.standings.get(agent) or BaseStanding(agent, base_commit, 0)
        self.standings[agent] = standing
        self._conflict(agent, base_name, standing)
        self._stale(agent, base_name, standing)
        return standing

    def json_of(self, agent: str) -> dict[str, object] | None:
        standing = self.standings.get(agent)
        return standing.as_json() if standing is not None else None

    def forget(self, agent: str) -> None:
        self.standings.pop(agent, None)
        self._told_conflict.pop(agent, None)
        self._told_stale.pop(agent, None)

    def _conflict(self, agent: str, base_name: str, standing: BaseStanding) -> None:
        paths = frozenset(c.path for c in standing.conflicts)
        if not paths:
            self._told_conflict.pop(agent, None)
            return
        told = self._told_conflict.get(agent, frozenset())
        self._told_conflict[agent] = paths
        if paths <= told:
            return
        shown = ", ".join(sorted(paths)[:5])
        ranges = "; ".join(
            f"{c.path}: base {h.ours_lines[0]}-{h.ours_lines[1]}, {agent} "
            f"{h.theirs_lines[0]}-{h.theirs_lines[1]}"
            for c in standing.conflicts[:3] for h in c.prediction.hunks[:1])
        title = f"gitwarden: {agent} conflicts with {base_name}"
        body = (f"Merging {agent} into {base_name} would conflict in {shown}"
                f"{' (' + ranges + ')' if ranges else ''}.")
        log.warning("%s: %s", title, body)
        self._emit(EventKind.BASE_CONFLICT, f"{agent} conflicts with {base_name} in {shown}",
                   agent=agent, severity="warning",
                   data=notice(standing.as_json(), title, body,
                               dedup=f"base-conflict:{agent}:{','.join(sorted(paths))}"))

    def _stale(self, agent: str, base_name: str, standing: BaseStanding) -> None:
        if standing.behind == 0:
            self._told_stale.pop(agent, None)
            return
        if agent in self._told_stale:
            return
        self._told_stale[agent] = standing.base_commit
        hint = f"gitwarden sync {shlex.quote(agent)}" if standing.rebase == "clean" else \
            f"gitwarden status {shlex.quote(agent)}"
        message = (f"{agent} is {standing.behind} commit(s) behind {base_name} "
                   f"(rebase {standing.rebase}): {hint}")
        self._emit(EventKind.BASE_STALE, message, agent=agent, severity="info",
                   data=notice(standing.as_json(), f"gitwarden: {agent} is behind {base_name}",
                               message, dedup=f"base-stale:{agent}"))
