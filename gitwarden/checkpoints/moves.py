"""Moving an agent's branch, index and files to a saved state, one step at a time.

A move is data (`Move`): the branch update as a compare-and-swap (expected old value), the
index tree, the paths to delete, the paths to write from a tree, the files to put back from
the stash. Applying a move twice gives the same result (a recovery may re-run one that was
killed half-way). The caller (checkpoints.transaction) journals the move, pauses the agent
and saves every byte the move touches before calling `apply_move`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import pygit2

from gitwarden.checkpoints.chain import RefConflict
from gitwarden.checkpoints.rollback_plan import checkout_paths, prune_empty_dirs
from gitwarden.checkpoints.stash import StashEntry, restore_file
from gitwarden.errors import GitwardenError
from gitwarden.git.objects import ZERO_OID, tree_entry
from gitwarden.git.runner import run_git
from gitwarden.store.write_journal import own_writes


@dataclass(frozen=True)
class AgentState:
    """A state an agent can be put in: HEAD, index, files (a tree) and stashed extra files."""

    commit: str  # the checkpoint (or clean branch commit) holding the files
    tree: str
    head: str | None
    branch: str | None
    index_tree: str | None = None  # None: the index is HEAD's tree
    stash: tuple[StashEntry, ...] = ()
    # Paths on disk then that no checkpoint holds (ignored ones, a directory for a whole
    # ignored directory; untracked over the size cap): going back here never deletes them,
    # even when a restored ignore rule made them look like new files meanwhile.
    unheld: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "tree": self.tree, "head": self.head,
                "branch": self.branch, "index_tree": self.index_tree,
                "stash": [entry.as_json() for entry in self.stash],
                "unheld": list(self.unheld)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentState:
        return cls(commit=data["commit"], tree=data["tree"], head=data.get("head"),
                   branch=data.get("branch"), index_tree=data.get("index_tree"),
                   stash=tuple(StashEntry.from_json(e) for e in data.get("stash", [])),
                   unheld=tuple(data.get("unheld", [])))

    def covers(self, rel: str) -> bool:
        """Whether `rel` was one of the unheld paths (or under an unheld directory)."""
        return any(rel == path or (path.endswith("/") and rel.startswith(path))
                   for path in self.unheld)


@dataclass(frozen=True)
class Move:
    """What applying a state changes; every path relative to the worktree."""

    expected_head: str | None
    new_head: str | None
    branch: str | None
    index_tree: str  # a tree id, or the new HEAD
    tree: str  # where `writes` come from
    writes: tuple[str, ...] = ()
    deletes: tuple[str, ...] = ()  # deepest first is not required: dirs are pruned after
    restores: tuple[StashEntry, ...] = ()
    clear: tuple[str, ...] = field(default=())  # unheld files (already stashed) in the way

    def as_json(self) -> dict[str, Any]:
        return {"expected_head": self.expected_head, "new_head": self.new_head,
                "branch": self.branch, "index_tree": self.index_tree, "tree": self.tree,
                "writes": list(self.writes), "deletes": list(self.deletes),
                "restores": [e.as_json() for e in self.restores], "clear": list(self.clear)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Move:
        return cls(expected_head=data.get("expected_head"), new_head=data.get("new_head"),
                   branch=data.get("branch"), index_tree=data["index_tree"], tree=data["tree"],
                   writes=tuple(data.get("writes", [])), deletes=tuple(data.get("deletes", [])),
                   restores=tuple(StashEntry.from_json(e) for e in data.get("restores", [])),
                   clear=tuple(data.get("clear", [])))

    @property
    def touched(self) -> list[str]:
        return sorted({*self.writes, *self.deletes, *(e.path for e in self.restores),
                       *self.clear})


class CommitLanded(GitwardenError):
    """The branch moved after the state was saved: the move was not applied."""


def current_head(worktree: Path) -> str | None:
    proc = run_git(["rev-parse", "-q", "--verify", "HEAD"], worktree, check=False)
    return proc.stdout.decode().strip() or None


def swap_branch(worktree: Path, move: Move, *, pass_fds: Sequence[int] = ()) -> None:
    """Point the branch (or a detached HEAD) at the new HEAD only if it still is at the
    expected one; already there counts as done (a re-run)."""
    if move.new_head is None or move.new_head == move.expected_head:
        return
    ref = f"refs/heads/{move.branch}" if move.branch else "HEAD"
    args = ["update-ref", "-m", "gitwarden rollback"]
    if move.branch is None:
        args.append("--no-deref")
    proc = run_git([*args, ref, move.new_head, move.expected_head or ZERO_OID], worktree,
                   check=False, pass_fds=pass_fds)
    if proc.returncode == 0:
        return
    now = current_head(worktree)
    if now == move.new_head:
        return
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    if now != move.expected_head:
        where = f"branch {move.branch}" if move.branch else "HEAD"
        raise CommitLanded(f"{where} moved to {str(now)[:10]} after the state was saved "
                           f"(expected {str(move.expected_head)[:10]})")
    raise RefConflict(stderr or ref)


def write_index(worktree: Path, move: Move, *, pass_fds: Sequence[int] = ()) -> None:
    run_git(["read-tree", move.index_tree], worktree, pass_fds=pass_fds)


def clear_unheld(worktree: Path, move: Move) -> None:
    """Remove unheld files in the way (their bytes are in the stash)."""
    for rel in sorted(move.clear, key=lambda p: -p.count("/")):
        full = worktree / rel
        with contextlib.suppress(FileNotFoundError):
            if full.is_dir() and not full.is_symlink():
                continue
            full.unlink()
    prune_empty_dirs(worktree, list(move.clear))


def delete_paths(worktree: Path, move: Move) -> None:
    for rel in move.deletes:
        full = worktree / rel
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            if full.is_symlink() or not full.is_dir():
                full.unlink()
    prune_empty_dirs(worktree, list(move.deletes))


def write_paths(worktree: Path, move: Move, scratch: Path, *,
                pass_fds: Sequence[int] = ()) -> None:
    if move.writes:
        for rel in move.writes:
            _clear_empty_dir(worktree, rel)
        checkout_paths(worktree, move.tree, list(move.writes), scratch, pass_fds)


def _clear_empty_dir(worktree: Path, rel: str) -> None:
    full = worktree / rel
    if full.is_dir() and not full.is_symlink():
        try:
            full.rmdir()
        except OSError as exc:
            raise GitwardenError(f"cannot restore {rel}: a non-empty directory is in the "
                                 "way") from exc


def restore_stashed(state_dir: Path, worktree: Path, move: Move) -> None:
    for entry in move.restores:
        restore_file(state_dir, worktree, entry)


def refresh_index(worktree: Path, *, pass_fds: Sequence[int] = ()) -> None:
    run_git(["update-index", "-q", "--refresh"], worktree, check=False, pass_fds=pass_fds)


def apply_move(state_dir: Path, worktree: Path, move: Move, *,
               pass_fds: Sequence[int] = ()) -> None:
    """Branch (compare-and-swap) first, so that a commit landing meanwhile stops the move
    before anything else changes; then the index, then the files. The files written are
    noted in the write journal: the daemon never takes them for the agent's writes."""
    swap_branch(worktree, move, pass_fds=pass_fds)
    write_index(worktree, move, pass_fds=pass_fds)
    with own_writes(state_dir, worktree, move.touched):
        clear_unheld(worktree, move)
        delete_paths(worktree, move)
        write_paths(worktree, move, state_dir / "tmp", pass_fds=pass_fds)
        restore_stashed(state_dir, worktree, move)
    refresh_index(worktree, pass_fds=pass_fds)


def reverse_move(move: Move, saved: AgentState, *, at_head: str | None) -> Move:
    """The move that puts every path `move` touched back to `saved` (idempotent)."""
    tree_paths: list[str] = []
    stashed = {entry.path: entry for entry in saved.stash}
    restores: list[StashEntry] = []
    deletes: list[str] = []
    for rel in move.touched:
        if rel in stashed:
            restores.append(stashed[rel])
        else:
            tree_paths.append(rel)
    return Move(expected_head=at_head, new_head=saved.head, branch=saved.branch,
                index_tree=saved.index_tree or saved.head or saved.tree, tree=saved.tree,
                writes=tuple(tree_paths), deletes=tuple(deletes), restores=tuple(restores))


def split_by_tree(repo: pygit2.Repository, move: Move) -> Move:
    """`writes` of paths absent from the move's tree become deletes (for a reverse move)."""
    tree = repo[pygit2.Oid(hex=move.tree)]
    assert isinstance(tree, pygit2.Tree)
    writes: list[str] = []
    deletes: list[str] = list(move.deletes)
    for rel in move.writes:
        if _in_tree(tree, rel):
            writes.append(rel)
        else:
            deletes.append(rel)
    return Move(expected_head=move.expected_head, new_head=move.new_head, branch=move.branch,
                index_tree=move.index_tree, tree=move.tree, writes=tuple(writes),
                deletes=tuple(deletes), restores=move.restores, clear=move.clear)


def _in_tree(tree: pygit2.Tree, rel: str) -> bool:
    entry = tree_entry(tree, rel)
    return entry is not None and int(entry.filemode) != 0o040000


@overload
def disk_paths_under(worktree: Path, rels: Iterable[str]) -> list[str]: ...


@overload
def disk_paths_under(worktree: Path, rels: Iterable[str], *, limit: int) -> list[str] | None:
    ...


def disk_paths_under(worktree: Path, rels: Iterable[str], *,
                     limit: int | None = None) -> list[str] | None:
    """Every file and symlink at or under the given paths, relative to the worktree (None
    when there are more than `limit`)."""
    found: list[str] = []
    for rel in rels:
        full = worktree / rel
        if full.is_symlink() or full.is_file():
            found.append(rel)
            continue
        for dirpath, dirs, files in os.walk(full):
            links = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
            for name in [*files, *links]:
                found.append(os.path.relpath(os.path.join(dirpath, name), worktree)
                             .replace(os.sep, "/"))
            if limit is not None and len(found) > limit:
                return None
    return found
