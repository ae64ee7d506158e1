"""Rolling an agent back to a checkpoint, and undoing that.

The branch (or detached HEAD) moves to the HEAD recorded in the checkpoint, the index is reset
to that HEAD, and the files are made equal to the checkpoint tree: only paths that differ are
written or deleted, so ignored files and untracked files the snapshot left out are untouched.
Before anything is touched a safety checkpoint and a backup ref are taken.
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
from gitwarden.git.objects import MODE_GITLINK
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

    @property
    def moves_head(self) -> bool:
        return self.current_head != self.target.head

    def as_json(self) -> dict[str, object]:
        return {"agent": self.agent, "target": self.target.commit,
                "head": {"from": self.current_head, "to": self.target.head},
                "branch": self.branch,
                "write": [c.path for c in self.changes if c.status != "D"],
                "delete": [c.path for c in self.changes if c.status == "D"],
                "keep_nested": list(self.kept_nested)}


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
    changes, kept_nested = _split_nested(
        repo, tree_changes(repo, pygit2.Oid(hex=current_tree), pygit2.Oid(hex=target.tree)),
        current_tree, target.tree)
    return RollbackPlan(agent=agent, worktree=worktree, target=target, current_head=head,
                        branch=branch, current_tree=current_tree, changes=changes,
                        kept_nested=kept_nested)


def _split_nested(repo: pygit2.Repository, changes: list[FileChange], current_tree: str,
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


def apply_rollback(repo: pygit2.Repository, plan: RollbackPlan, scratch_dir: Path, *,
                   pass_fds: Sequence[int] = ()) -> None:
    """Move HEAD/branch and index to the recorded HEAD, then the files to the checkpoint tree.

    The caller has already taken the safety checkpoint and backup ref. `pass_fds` are handed
    to every git process started (the caller's lock outlives it in them).
    """
    worktree = plan.worktree
    assert plan.target.head is not None
    # Index and branch first: if git refuses (index.lock held), no file has been touched yet.
    run_git(["reset", "-q", "--mixed", "--no-refresh", plan.target.head], worktree,
            pass_fds=pass_fds)
    target_tree = repo[pygit2.Oid(hex=plan.target.tree)]
    current_tree = repo[pygit2.Oid(hex=plan.current_tree)]
    deletions = [c.path for c in plan.changes if c.status == "D"
                 and _mode_in(current_tree, c.path) != MODE_GITLINK]
    writes = [c.path for c in plan.changes if c.status != "D"
              and _mode_in(target_tree, c.path) != MODE_GITLINK]
    for path in deletions:
        _remove_file(worktree, path)
    _prune_empty_dirs(worktree, deletions)
    if writes:
        _checkout_paths(worktree, plan.target.tree, writes, scratch_dir, pass_fds)
    run_git(["update-index", "-q", "--refresh"], worktree, check=False, pass_fds=pass_fds)


def restore_index(worktree: Path, index_tree: str, *, pass_fds: Sequence[int] = ()) -> None:
    """Make the agent's index the saved index tree (an explicit undo only), files untouched."""
    run_git(["read-tree", index_tree], worktree, pass_fds=pass_fds)
    run_git(["update-index", "-q", "--refresh"], worktree, check=False, pass_fds=pass_fds)


def _mode_in(tree: pygit2.Object, path: str) -> int | None:
    assert isinstance(tree, pygit2.Tree)
    try:
        return int(tree[path].filemode)
    except KeyError:
        return None


def _remove_file(worktree: Path, rel: str) -> None:
    full = worktree / rel
    try:
        if full.is_symlink() or not full.is_dir():
            full.unlink()
    except FileNotFoundError:
        pass


def _prune_empty_dirs(worktree: Path, deleted: list[str]) -> None:
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


def _checkout_paths(worktree: Path, tree: str, paths: list[str], scratch_dir: Path,
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
