"""Rebasing and merging in memory (pygit2 merge_trees): each commit's change, parent to
commit, is merged onto the new base without any worktree, index or HEAD. Used to predict
whether a rebase would be clean and to build the rebased commits that `sync` and `land` then
move a branch to by compare-and-swap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pygit2

from gitwarden.git.objects import gitwarden_signature


@dataclass(frozen=True)
class Replay:
    """The new head (None when a commit conflicts), or the commit and paths that conflict."""

    head: str | None
    conflicts: tuple[str, ...] = ()
    conflicting_commit: str | None = None


def replay(repo: pygit2.Repository, commits: Sequence[str], onto: str, *,
           create: bool) -> Replay:
    """Replay `commits` (oldest first) onto `onto`; with `create`, write the new commits
    (authors kept, committer = the user's identity, else gitwarden's) and return the last."""
    current = repo[onto].peel(pygit2.Commit)
    tree = current.tree
    committer = _committer(repo) if create else None
    for commit_id in commits:
        commit = repo[commit_id].peel(pygit2.Commit)
        if len(commit.parents) > 1:
            continue  # merges bring nothing of their own to replay (as `git rebase` does)
        parent_tree = commit.parents[0].tree if commit.parents else _empty_tree(repo)
        index = repo.merge_trees(parent_tree, tree, commit.tree)
        if index.conflicts is not None:
            paths = sorted({entry.path for triple in index.conflicts for entry in triple
                            if entry is not None})
            return Replay(head=None, conflicts=tuple(paths), conflicting_commit=commit_id)
        tree_id = index.write_tree(repo)
        if tree_id == tree.id:
            continue  # already in the base: dropped, as `git rebase` drops it
        tree = repo[tree_id].peel(pygit2.Tree)
        if create:
            assert committer is not None
            new_id = repo.create_commit(None, commit.author, committer, commit.message,
                                        tree_id, [current.id])
            current = repo[new_id].peel(pygit2.Commit)
    if not create:
        return Replay(head=str(tree.id))
    return Replay(head=str(current.id))


def merge_commit(repo: pygit2.Repository, head: str, base: str,
                 message: str) -> Replay:
    """A merge commit of `base` into `head` (parents: head, base), or the conflicting paths."""
    head_commit = repo[head].peel(pygit2.Commit)
    base_commit = repo[base].peel(pygit2.Commit)
    ancestor = repo.merge_base(head_commit.id, base_commit.id)
    ancestor_tree = repo[ancestor].peel(pygit2.Tree) if ancestor is not None else \
        _empty_tree(repo)
    index = repo.merge_trees(ancestor_tree, head_commit.tree, base_commit.tree)
    if index.conflicts is not None:
        paths = sorted({entry.path for triple in index.conflicts for entry in triple
                        if entry is not None})
        return Replay(head=None, conflicts=tuple(paths), conflicting_commit=base)
    tree_id = index.write_tree(repo)
    committer = _committer(repo)
    new_id = repo.create_commit(None, committer, committer, message, tree_id,
                                [head_commit.id, base_commit.id])
    return Replay(head=str(new_id))


def _empty_tree(repo: pygit2.Repository) -> pygit2.Tree:
    return repo[repo.TreeBuilder().write()].peel(pygit2.Tree)


def _committer(repo: pygit2.Repository) -> pygit2.Signature:
    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        return gitwarden_signature()
