"""Incremental changed-set bookkeeping and overlap transitions (pure: no git, no threads).

The daemon feeds this tracker what git says about the paths it saw change; the tracker keeps
each agent's changed set (committed since the merge-base, plus dirty work) and reports which
overlaps opened, changed or resolved since the last call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Overlap:
    """A path in the changed sets of two or more agents."""

    path: str
    agents: tuple[str, ...]
    first_agent: str
    opened_at: float


@dataclass(frozen=True)
class OverlapDelta:
    opened: list[Overlap] = field(default_factory=list)
    changed: list[Overlap] = field(default_factory=list)
    resolved: list[Overlap] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.opened or self.changed or self.resolved)


class ChangeTracker:
    """Per-agent changed sets plus the currently open overlaps."""

    def __init__(self) -> None:
        self._committed: dict[str, set[str]] = {}
        self._dirty: dict[str, set[str]] = {}
        self._first_seen: dict[tuple[str, str], float] = {}
        self._overlaps: dict[str, Overlap] = {}
        self._touched: set[str] = set()

    @property
    def agents(self) -> list[str]:
        return sorted(set(self._committed) | set(self._dirty))

    def changed(self, agent: str) -> set[str]:
        return self._committed.get(agent, set()) | self._dirty.get(agent, set())

    def committed(self, agent: str) -> set[str]:
        return set(self._committed.get(agent, set()))

    def dirty(self, agent: str) -> set[str]:
        return set(self._dirty.get(agent, set()))

    def changed_by_other(self, agent: str, path: str) -> bool:
        """Whether an agent other than `agent` has `path` in its changed set (no set built)."""
        return any(path in paths for sets in (self._committed, self._dirty)
                   for name, paths in sets.items() if name != agent)

    def changed_sets(self) -> dict[str, set[str]]:
        return {agent: self.changed(agent) for agent in self.agents}

    @property
    def overlaps(self) -> dict[str, Overlap]:
        return dict(self._overlaps)

    def set_committed(self, agent: str, paths: Iterable[str], now: float) -> None:
        new = set(paths)
        old = self._committed.get(agent, set())
        self._committed[agent] = new
        self._note(agent, old ^ new, now)

    def set_dirty(self, agent: str, paths: Iterable[str], now: float) -> None:
        """Replace the dirty set of an agent (after a full `git status`)."""
        new = set(paths)
        old = self._dirty.get(agent, set())
        self._dirty[agent] = new
        self._note(agent, old ^ new, now)

    def update_dirty(self, agent: str, *, files: Iterable[str] = (), dirs: Iterable[str] = (),
                     present: Iterable[str] = (), now: float) -> None:
        """Refresh the dirty paths under the touched `files` and `dirs` only.

        `present` is what git reports as dirty among those paths; every other dirty path
        equal to a touched file or under a touched directory is dropped.
        """
        dirty = self._dirty.setdefault(agent, set())
        before = set()
        for path in files:
            if path in dirty:
                before.add(path)
        prefixes = tuple(d.rstrip("/") + "/" for d in dirs if d)
        if prefixes:
            before.update(p for p in dirty if p.startswith(prefixes))
        present_set = set(present)
        dirty -= before
        dirty |= present_set
        self._note(agent, before ^ present_set, now)

    def remove_agent(self, agent: str) -> None:
        paths = self.changed(agent)
        self._committed.pop(agent, None)
        self._dirty.pop(agent, None)
        self._touched.update(paths)
        for key in [k for k in self._first_seen if k[0] == agent]:
            del self._first_seen[key]

    def diff_overlaps(self, now: float, *, full: bool = False) -> OverlapDelta:
        """Overlap transitions caused by the updates since the last call."""
        candidates = set(self._overlaps) | self._touched if not full else None
        self._touched = set()
        owners: dict[str, list[str]] = {}
        for agent in self.agents:
            changed = self.changed(agent)
            paths = changed if candidates is None else changed & candidates
            for path in paths:
                owners.setdefault(path, []).append(agent)
        current = {path: tuple(sorted(names)) for path, names in owners.items()
                   if len(names) > 1}
        delta = OverlapDelta()
        for path, old in list(self._overlaps.items()):
            if path not in current:
                delta.resolved.append(old)
                del self._overlaps[path]
        for path, names in sorted(current.items()):
            old_overlap = self._overlaps.get(path)
            if old_overlap is None:
                overlap = Overlap(path=path, agents=names, first_agent=self._first(path, names),
                                  opened_at=now)
                self._overlaps[path] = overlap
                delta.opened.append(overlap)
            elif old_overlap.agents != names:
                overlap = Overlap(path=path, agents=names,
                                  first_agent=self._first(path, names),
                                  opened_at=old_overlap.opened_at)
                self._overlaps[path] = overlap
                delta.changed.append(overlap)
        return delta

    def memory_sizes(self) -> dict[str, int]:
        """Entries this tracker holds: bounded by the paths the agents changed."""
        return {"changed_paths": sum(len(s) for s in (*self._committed.values(),
                                                      *self._dirty.values())),
                "first_seen": len(self._first_seen), "overlaps": len(self._overlaps),
                "touched": len(self._touched)}

    def restore_overlap(self, overlap: Overlap) -> None:
        """Adopt an overlap known from before (a daemon restart) so it is not re-announced."""
        self._overlaps[overlap.path] = overlap
        self._touched.add(overlap.path)

    def _first(self, path: str, agents: tuple[str, ...]) -> str:
        return min(agents, key=lambda a: (self._first_seen.get((a, path), float("inf")), a))

    def _note(self, agent: str, flipped: set[str], now: float) -> None:
        if not flipped:
            return
        self._touched.update(flipped)
        changed = self.changed(agent)
        for path in flipped:
            key = (agent, path)
            if path in changed:
                self._first_seen.setdefault(key, now)
            else:
                self._first_seen.pop(key, None)
