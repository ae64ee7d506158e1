"""Where each agent stands against the base: commits behind, whether merging its current work
(uncommitted included) into the base would conflict (files and line ranges), and whether a
rebase onto the base would be clean. Read-only: the merges run in memory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gitwarden.git.quarantine import quarantined
from gitwarden.overlaps.predict import CONFLICT, MergePredictor, Prediction, Side
from gitwarden.overlaps.replay import replay

BASE_LABEL = "base"
UP_TO_DATE = "up-to-date"
CLEAN = "clean"
BLOCKED = "blocked"  # uncommitted changes in files the base changed: sync would refuse
_REBASE_LIMIT = 256  # (merge-base, head, base) triples; cleared when full


@dataclass(frozen=True)
class BaseConflict:
    path: str
    prediction: Prediction

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.prediction.reason,
                "hunks": [h.as_json() for h in self.prediction.hunks]}


@dataclass(frozen=True)
class BaseStanding:
    """One agent against the base commit."""

    agent: str
    base_commit: str
    behind: int
    conflicts: tuple[BaseConflict, ...] = ()
    rebase: str = UP_TO_DATE  # up-to-date | clean | conflict | blocked
    rebase_conflicts: tuple[str, ...] = ()
    blocked_by: tuple[str, ...] = ()

    @property
    def conflict(self) -> bool:
        return bool(self.conflicts)

    def as_json(self) -> dict[str, Any]:
        return {"commit": self.base_commit, "behind": self.behind,
                "conflict": self.conflict, "conflicts": [c.as_json() for c in self.conflicts],
                "rebase": self.rebase, "rebase_conflicts": list(self.rebase_conflicts),
                "blocked_by": list(self.blocked_by)}

    def summary(self) -> str:
        """A few words for a table cell: "ok", "3 behind", "2 behind, conflict"."""
        if self.behind == 0:
            return "ok"
        words = f"{self.behind} behind"
        if self.conflict:
            return f"{words}, conflict"
        return f"{words}, rebase {self.rebase}" if self.rebase != CLEAN else words


class BaseAwareness:
    """Base standings for one repository; one per thread (it holds a pygit2 repository)."""

    def __init__(self, common_dir: Path, predictor: MergePredictor | None = None) -> None:
        self.predictor = predictor or MergePredictor(common_dir)
        self._base_paths: dict[tuple[str, str], frozenset[str]] = {}
        self._rebases: dict[tuple[str, str, str], tuple[str, tuple[str, ...]]] = {}

    @property
    def cache_size(self) -> int:
        return len(self._base_paths) + len(self._rebases)

    @property
    def repo(self) -> pygit2.Repository:
        """The predictor's repository, which it reopens now and then (one kept from the
        start would keep every pack a repack deleted mapped: the daemon's RSS would grow)."""
        return self.predictor.repo

    def standing(self, agent: str, worktree: Path, head: str | None, base_commit: str,
                 committed: Iterable[str], uncommitted: Iterable[str]) -> BaseStanding:
        """`committed`: paths the agent's commits changed since the merge-base; `uncommitted`:
        staged, unstaged and untracked paths."""
        if head is None:
            return BaseStanding(agent, base_commit, 0)
        try:
            merge_base = self.repo.merge_base(head, base_commit)
            _ahead, behind = self.repo.ahead_behind(head, base_commit)
        except (pygit2.GitError, KeyError, ValueError):
            return BaseStanding(agent, base_commit, 0)
        if behind == 0 or merge_base is None:
            return BaseStanding(agent, base_commit, behind)
        base_paths = self._changed_on_base(str(merge_base), base_commit)
        committed_set, dirty = set(committed), set(uncommitted)
        side = Side(agent, worktree, head)
        conflicts = []
        for path in sorted((committed_set | dirty) & base_paths):
            prediction = self.predictor.predict_against(path, side, BASE_LABEL, base_commit,
                                                        str(merge_base))
            if prediction.classification == CONFLICT:
                conflicts.append(BaseConflict(path, prediction))
        rebase, rebase_conflicts = self._rebase(str(merge_base), head, base_commit,
                                                committed_set & base_paths)
        blocked = tuple(sorted(dirty & base_paths))
        if rebase == CLEAN and blocked:
            rebase = BLOCKED
        return BaseStanding(agent, base_commit, behind, tuple(conflicts), rebase,
                            rebase_conflicts, blocked)

    def _rebase(self, merge_base: str, head: str, base_commit: str,
                shared: set[str]) -> tuple[str, tuple[str, ...]]:
        """Whether the agent's commits replay onto the base. The answer depends on the three
        commits alone (`shared` too follows from them), so it is kept: the daemon asks again
        after every write, and each replay opens a repository in a quarantine."""
        if not shared:
            return CLEAN, ()  # no file changed on both sides: each commit applies as it is
        key = (merge_base, head, base_commit)
        known = self._rebases.get(key)
        if known is None:
            known = self._replay(merge_base, head, base_commit)
            if len(self._rebases) >= _REBASE_LIMIT:
                self._rebases.clear()
            self._rebases[key] = known
        return known

    def _replay(self, merge_base: str, head: str, base_commit: str
                ) -> tuple[str, tuple[str, ...]]:
        walker = self.repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL |
                                pygit2.enums.SortMode.REVERSE)
        walker.hide(merge_base)
        with quarantined(self.repo) as scratch:  # a prediction leaves no object behind
            result = replay(scratch, [str(c.id) for c in walker], base_commit, create=False)
        if result.head is None:
            return CONFLICT, result.conflicts
        return CLEAN, ()

    def _changed_on_base(self, merge_base: str, base_commit: str) -> frozenset[str]:
        key = (merge_base, base_commit)
        cached = self._base_paths.get(key)
        if cached is None:
            diff = self.repo[merge_base].peel(pygit2.Tree).diff_to_tree(
                self.repo[base_commit].peel(pygit2.Tree))
            paths = set()
            for delta in diff.deltas:
                paths.add(delta.old_file.path)
                paths.add(delta.new_file.path)
            if len(self._base_paths) > 256:
                self._base_paths.clear()
            cached = self._base_paths[key] = frozenset(paths)
        return cached


def base_target(cwd: Path, branch: str, base_commit: str, remote: str | None) -> tuple[str, str]:
    """(name, commit) of what agents are compared with: the remote-tracking branch when a
    `[base] remote` is set and fetched, else the local base branch."""
    if remote:
        name = f"{remote}/{branch}"
        try:
            repo = pygit2.Repository(str(cwd))
            ref = repo.references.get(f"refs/remotes/{name}")
        except pygit2.GitError:
            ref = None
        if ref is not None:
            return name, str(ref.peel(pygit2.Commit).id)
    return branch, base_commit


def standings(common_dir: Path, base_commit: str,
              agents: Iterable[tuple[str, Path, str | None, Iterable[str], Iterable[str]]]
              ) -> dict[str, BaseStanding]:
    """Standings of several agents: (name, worktree, head, committed, uncommitted) each."""
    awareness = BaseAwareness(common_dir)
    return {name: awareness.standing(name, path, head, base_commit, committed, dirty)
            for name, path, head, committed, dirty in agents}
