"""Which agents a reconcile re-reads from git: constant work per tick when nothing changed.

A scheduled reconcile recomputes only agents that may have changed unseen: events not yet
settled, a worktree root no longer watched, or a cheap signature (HEAD, branch, the index's
entries without their stat data: git/index_digest.py) that moved. Besides, each tick re-reads at
most FULL_BUDGET agents not read from git for FULL_RECONCILE_INTERVAL seconds, for what inotify
cannot report (a file written through a long-open descriptor, a network file system). A full
reconcile (at start, after a lost event queue, a repository-wide setting that changed) re-reads
every agent.

Owned by the pipeline thread; every map here holds one entry per watched agent at most.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitwarden.agents.model import Agent
from gitwarden.git.index_digest import IndexDigests

FULL_RECONCILE_INTERVAL = 600.0
FULL_BUDGET = 2


def stale_due(read_at: Mapping[str, float], names: Iterable[str], now: float, *,
              budget: int = FULL_BUDGET,
              interval: float = FULL_RECONCILE_INTERVAL) -> set[str]:
    """The at most `budget` agents among `names` read longest ago, if that was at least
    `interval` seconds before `now` (never read: due first)."""
    oldest = sorted((read_at.get(name, float("-inf")), name) for name in names)
    return {name for at, name in oldest[:budget] if now - at >= interval}


@dataclass(frozen=True)
class ReconcilePlan:
    full: bool
    read: list[str]  # agents to re-read from git, in this order
    skipped: int
    repo_signature: tuple[object, ...]
    unwatched: frozenset[str] = frozenset()  # agents read because their root lost its watch


class Reconciler:
    """When each agent was last read from git, with which signature, and which agents had
    events since; the reconcile plans from these."""

    def __init__(self) -> None:
        self.read_at: dict[str, float] = {}
        self.signatures: dict[str, tuple[object, ...]] = {}
        self.unsettled: set[str] = set()  # agents with events since their last recompute
        self.full_due = True
        self.repo_signature: tuple[object, ...] | None = None
        self.last: float | None = None
        self.stats: dict[str, Any] = {}
        self.indexes = IndexDigests()

    def signature(self, view: Agent) -> tuple[object, ...]:
        """What changes when git commands (not file edits) may change an agent's changed
        set: its HEAD, its branch, its index entries."""
        return (view.head, view.branch, self.indexes.signature(view.git_dir / "index"))

    def was_read(self, name: str, signature: tuple[object, ...], now: float) -> None:
        self.unsettled.discard(name)
        self.signatures[name], self.read_at[name] = signature, now

    def forget(self, name: str) -> None:
        self.read_at.pop(name, None)
        self.signatures.pop(name, None)
        self.unsettled.discard(name)

    def plan(self, agents: Mapping[str, Agent], fresh: Collection[str], now: float, *,
             initial: bool, repo_signature: tuple[object, ...],
             watched: Callable[[], set[str]], polling: Collection[str]) -> ReconcilePlan:
        """The agents to re-read; `fresh` ones were just read and are left out."""
        full = initial or self.full_due or repo_signature != self.repo_signature
        roots = watched() if not full else set()
        due = stale_due(self.read_at, (n for n in agents if n not in fresh), now)
        read, skipped, unwatched = [], 0, set()
        for name, view in agents.items():
            if name in fresh:
                continue  # just read from git: a second read would find the same
            if not full and name not in due and \
                    not self._may_have_missed(name, view, roots, polling):
                skipped += 1
                continue
            read.append(name)
            if not full and str(view.path) not in roots:
                unwatched.add(name)
        return ReconcilePlan(full, read, skipped, repo_signature, frozenset(unwatched))

    def finish(self, plan: ReconcilePlan, agents: int, now: float) -> None:
        self.last = now
        if plan.full:
            self.full_due = False
            self.repo_signature = plan.repo_signature
        self.stats = {"full": plan.full, "recomputed": agents - plan.skipped,
                      "skipped": plan.skipped}

    def memory_sizes(self) -> dict[str, int]:
        return {"signatures": len(self.signatures), "read_at": len(self.read_at),
                "unsettled": len(self.unsettled), "index_digests": len(self.indexes)}

    def _may_have_missed(self, name: str, view: Agent, watched: set[str],
                         polling: Collection[str]) -> bool:
        """Whether a recompute of `name` might find what its file events did not show."""
        if name in polling:
            return False  # its poll job recomputes it every few seconds
        return name in self.unsettled or str(view.path) not in watched or \
            self.signatures.get(name) != self.signature(view)
