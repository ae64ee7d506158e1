"""Rolling an agent back to a checkpoint, and undoing that.

The plan is data: the branch (or detached HEAD) goes to the HEAD recorded in the checkpoint,
the index to that HEAD, and only the files that differ from the checkpoint tree are written or
deleted. Applying it is a journaled transaction (checkpoints.transaction, checkpoints.moves).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from gitwarden.checkpoints.chain import CheckpointInfo, FileChange, tree_changes
from gitwarden.checkpoints.snapshot import SnapshotSkipped, full_snapshot
from gitwarden.errors import GitwardenError
from gitwarden.git.objects import MODE_GITLINK, tree_entry
from gitwarden.git.runner import run_git
from gitwarden.git.worktrees import operation_in_progress


@dataclass(frozen=True)
class RollbackPlan:
    agent: str
    worktree: Path
    target: CheckpointInfo
    current_head: str | None
    branch: str | None
    current_tree: str
    changes: list[FileChange]  # A: created, M: overwritten, D: deleted, relative to now
    # Nested repositories (gitlinks) that differ but are left alone: a rollback never deletes
    # or creates another repository.
    kept_nested: list[str] = field(default_factory=list)
    # Files no checkpoint holds (big untracked, ignored) that a write would replace: left in
    # place unless asked to include them; `stash`: those saved and replaced.
    kept: list[str] = field(default_factory=list)
    stash: list[str] = field(default_factory=list)
    restores: list[str] = field(default_factory=list)  # files put back from the stash

    @property
    def moves_head(self) -> bool:
        return self.current_head != self.target.head

    def as_json(self) -> dict[str, object]:
        return {"agent": self.agent, "target": self.target.commit,
                "head": {"from": self.current_head, "to": self.target.head},
                "branch": self.branch,
                "write": [c.path for c in self.changes if c.status != "D"],
                "delete": [c.path for c in self.changes if c.status == "D"],
                "keep_nested": list(self.kept_nested), "keep_unheld": list(self.kept),
                "stash": list(self.stash), "restore_from_stash": list(self.restores)}


def refuse_if_busy(git_dir: Path, agent_name: str) -> None:
    operation = operation_in_progress(git_dir)
    if operation is not None:
        raise GitwardenError(f"agent {agent_name} is in the middle of a {operation}: finish or "
                             f"abort it first (git {operation} --abort)")


def plan_rollback(repo: pygit2.Repository, *, agent: str, worktree: Path, branch: str | None,
                  target: CheckpointInfo, max_untracked_size: int,
                  current_tree: str | None = None) -> RollbackPlan:
    """What a rollback to `target` would change, without changing anything."""
    if target.head is None:
        raise GitwardenError(f"checkpoint {target.commit[:10]} recorded no HEAD (unborn "
                             "branch): nothing to roll back to")
    if current_tree is None:
        try:
            current_tree = str(full_snapshot(repo, max_untracked_size=max_untracked_size).tree)
        except SnapshotSkipped as exc:
            raise GitwardenError(f"cannot roll back {agent}: {exc.reason}") from exc
    head = None if repo.head_is_unborn else str(repo.head.target)
    changes, kept_nested = split_nested(
        repo, tree_changes(repo, pygit2.Oid(hex=current_tree), pygit2.Oid(hex=target.tree)),
        current_tree, target.tree)
    return RollbackPlan(agent=agent, worktree=worktree, target=target, current_head=head,
                        branch=branch, current_tree=current_tree, changes=changes,
                        kept_nested=kept_nested)


def split_nested(repo: pygit2.Repository, changes: list[FileChange], current_tree: str,
                  target_tree: str) -> tuple[list[FileChange], list[str]]:
    """(changes the rollback makes, nested repositories it leaves alone)."""
    current = repo[pygit2.Oid(hex=current_tree)]
    target = repo[pygit2.Oid(hex=target_tree)]
    made: list[FileChange] = []
    kept: list[str] = []
    for change in changes:
        side = current if change.status == "D" else target
        if _mode_in(side, change.path) == MODE_GITLINK:
            kept.append(change.path)
        else:
            made.append(change)
    return made, kept


def _mode_in(tree: pygit2.Object, path: str) -> int | None:
    assert isinstance(tree, pygit2.Tree)
    entry = tree_entry(tree, path)
    return int(entry.filemode) if entry is not None else None


def prune_empty_dirs(worktree: Path, deleted: list[str]) -> None:
    candidates = sorted({str(Path(p).parent) for p in deleted if "/" in p},
                        key=lambda p: -p.count("/"))
    for rel in candidates:
        current = worktree / rel
        while current != worktree:
            try:
                current.rmdir()
            except OSError:
                break
            current = current.parent


def checkout_paths(worktree: Path, tree: str, paths: list[str], scratch_dir: Path,
                    pass_fds: Sequence[int]) -> None:
    """Write `paths` from `tree` into the worktree with git (filters, modes, symlinks)."""
    for path in paths:
        _clear_blocking_parents(worktree, path)
    scratch_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, index_file = tempfile.mkstemp(prefix="rollback-index-", dir=scratch_dir)
    os.close(fd)
    os.unlink(index_file)
    env = {"GIT_INDEX_FILE": index_file}
    try:
        run_git(["read-tree", tree], worktree, env=env, pass_fds=pass_fds)
        run_git(["checkout-index", "-f", "-z", "--stdin"], worktree, env=env, pass_fds=pass_fds,
                input_bytes=b"\0".join(p.encode("utf-8", "surrogateescape") for p in paths)
                + b"\0")
    finally:
        for leftover in (index_file, index_file + ".lock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def _clear_blocking_parents(worktree: Path, rel: str) -> None:
    """A file or symlink where the target needs a directory (or a directory where a file goes)."""
    parts = rel.split("/")
    current = worktree
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise GitwardenError(f"cannot restore {rel}: {current.relative_to(worktree)} is a "
                                 "file that no checkpoint holds; move it away first")
    final = worktree / rel
    if final.is_dir() and not final.is_symlink():
        try:
            final.rmdir()
        except OSError as exc:
            raise GitwardenError(f"cannot restore {rel}: a non-empty directory is in the way "
                                 "(it holds ignored or left-out files)") from exc
