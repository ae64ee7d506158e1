"""Retention of checkpoint chains: keep the newest N and the clean ones for D days.

Pruning rewrites the private chain without the dropped checkpoints (rule 7): commits older
than the oldest dropped one keep their ids, newer kept ones are re-created with the same tree,
message, author, committer and recorded HEAD, plus a `Gitwarden-Original` trailer so marks
made against the old id still find them. Nothing is deleted from the object store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pygit2

from gitwarden.checkpoints.chain import TRAILER_ORIGINAL, CheckpointInfo


@dataclass(frozen=True)
class RetentionPolicy:
    keep: int
    keep_clean_seconds: float


@dataclass
class PrunePlan:
    kept: list[CheckpointInfo] = field(default_factory=list)  # newest first
    dropped: list[CheckpointInfo] = field(default_factory=list)


def plan_prune(chain: Sequence[CheckpointInfo], policy: RetentionPolicy, *, now: float,
               is_clean: Callable[[CheckpointInfo], bool],
               protected: set[str]) -> PrunePlan:
    """Which checkpoints (chain newest first) to keep and which to drop."""
    plan = PrunePlan()
    for position, info in enumerate(chain):
        keep = (position < policy.keep
                or info.commit in protected or info.original in protected
                or (is_clean(info) and now - info.time <= policy.keep_clean_seconds))
        (plan.kept if keep else plan.dropped).append(info)
    return plan


def rewrite_chain(repo: pygit2.Repository, chain: Sequence[CheckpointInfo],
                  plan: PrunePlan) -> tuple[str | None, list[tuple[str, str]]]:
    """Write the kept checkpoints as a new chain; return (new tip, [(old id, new id)])."""
    dropped = {info.commit for info in plan.dropped}
    mapping: list[tuple[str, str]] = []
    new_previous: str | None = None
    rewriting = False
    for info in reversed(chain):  # oldest first
        if info.commit in dropped:
            rewriting = True
            continue
        if not rewriting:
            new_previous = info.commit
            continue
        commit = repo[pygit2.Oid(hex=info.commit)]
        assert isinstance(commit, pygit2.Commit)
        parents = [pygit2.Oid(hex=new_previous)] if new_previous else []
        if info.head:
            parents.append(pygit2.Oid(hex=info.head))
        message = commit.message
        if info.original == info.commit:
            message = message.rstrip("\n") + f"\n{TRAILER_ORIGINAL}: {info.commit}\n"
        new_id = str(repo.create_commit(None, commit.author, commit.committer, message,
                                        commit.tree_id, parents))
        mapping.append((info.commit, new_id))
        new_previous = new_id
    return new_previous, mapping
