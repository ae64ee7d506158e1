"""Building a revert commit in memory with pygit2: no index, no working tree, no ref.

The revert of commit C onto HEAD is the three-way merge of HEAD with C's parent, C being the
ancestor (what `git revert` does). Several culprits are reverted newest first into one tree.
Applying the commit to an agent's branch and files is the adapter's job (health_actions).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pygit2

from gitwarden.errors import GitwardenError
from gitwarden.git.objects import gitwarden_signature


class RevertError(GitwardenError):
    """The revert cannot be made safely; the message says why."""


@dataclass(frozen=True)
class RevertPlan:
    tree: str
    head: str
    culprits: tuple[str, ...]
    paths: tuple[str, ...]  # paths whose content the revert changes
    removed: tuple[str, ...]  # of those, paths the revert deletes
    message: str


def is_revert_message(message: str) -> bool:
    first = message.lstrip().splitlines()[0] if message.strip() else ""
    return first.startswith(('Revert "', "Revert '")) or "This reverts commit " in message


def plan_revert(repo: Any, head: str, culprits: Sequence[str], *,
                trailers: Sequence[tuple[str, str]] = ()) -> RevertPlan:
    """The tree of HEAD with `culprits` reverted, or RevertError (conflict, revert of a
    revert, culprit not in HEAD's history)."""

    head_commit = repo.get(head)
    if head_commit is None:
        raise RevertError(f"unknown commit {head}")
    tree = head_commit.tree
    ordered = list(culprits)
    for culprit_id in ordered:
        culprit = repo.get(culprit_id)
        if culprit is None:
            raise RevertError(f"unknown commit {culprit_id}")
        if is_revert_message(culprit.message):
            raise RevertError(f"{culprit_id[:10]} is itself a revert: never revert a revert")
        if culprit_id != head and not repo.descendant_of(head, culprit_id):
            raise RevertError(f"{culprit_id[:10]} is not in the history of {head[:10]}")
        if not culprit.parents:
            raise RevertError(f"{culprit_id[:10]} is a root commit: nothing to revert to")
        parent = culprit.parents[0]  # mainline 1 for a merge: undo what it brought in
        index = repo.merge_trees(culprit.tree, tree, parent.tree)
        if index.conflicts is not None:
            clashes = sorted({entry.path for conflict in index.conflicts for entry in conflict
                              if entry is not None})
            raise RevertError(f"reverting {culprit_id[:10]} conflicts with later changes in "
                              f"{', '.join(clashes[:5])}")
        tree = repo[index.write_tree(repo)]
    diff = repo.diff(head_commit.tree, tree)
    paths: set[str] = set()
    removed: set[str] = set()
    for delta in diff.deltas:
        paths.add(delta.old_file.path)
        paths.add(delta.new_file.path)
        if delta.status == pygit2.enums.DeltaStatus.DELETED:
            removed.add(delta.old_file.path)
    return RevertPlan(tree=str(tree.id), head=head, culprits=tuple(ordered),
                      paths=tuple(sorted(paths)), removed=tuple(sorted(removed)),
                      message=revert_message(repo, ordered, trailers))


def revert_message(repo: Any, culprits: Sequence[str],
                   trailers: Sequence[tuple[str, str]] = ()) -> str:
    subjects = [repo[c].message.strip().splitlines()[0] if repo[c].message.strip() else c[:10]
                for c in culprits]
    if len(culprits) == 1:
        title = f'Revert "{subjects[0]}"'
    else:
        title = f"Revert {len(culprits)} commits that broke the health check"
    body = "\n".join(f"This reverts commit {c}." for c in culprits)
    lines = [title, "", body]
    if trailers:
        lines.append("")
        lines.extend(f"{key}: {value}" for key, value in trailers)
    return "\n".join(lines) + "\n"


def create_revert_commit(repo: Any, plan: RevertPlan, *, now: float | None = None) -> str:
    """Write the revert commit object (parent: the planned HEAD); no ref is touched."""

    when = int(now if now is not None else time.time())
    offset = -time.timezone // 60 if not time.daylight else -time.altzone // 60
    author = gitwarden_signature(when, offset)
    oid = repo.create_commit(None, author, author, plan.message, pygit2.Oid(hex=plan.tree),
                             [pygit2.Oid(hex=plan.head)])
    return str(oid)
