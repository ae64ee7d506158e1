"""Reading the worktrees of a repository (`git worktree list` and their admin dirs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitwarden.git.objects import ZERO_OID
from gitwarden.git.repository import Repo
from gitwarden.git.runner import run_git

# Files a worktree's git dir holds while an operation is in progress (rule 6).
_OPERATION_MARKERS = (
    ("rebase-merge", "rebase"),
    ("rebase-apply", "rebase"),
    ("MERGE_HEAD", "merge"),
    ("CHERRY_PICK_HEAD", "cherry-pick"),
    ("REVERT_HEAD", "revert"),
    ("BISECT_LOG", "bisect"),
)


@dataclass(frozen=True)
class Worktree:
    """One entry of `git worktree list`, with its admin name and git dir."""

    path: Path
    head: str | None
    branch: str | None
    is_main: bool
    name: str
    git_dir: Path
    locked: bool = False
    prunable: bool = False

    @property
    def exists(self) -> bool:
        return self.path.is_dir()


def list_worktrees(repo: Repo) -> list[Worktree]:
    """Every worktree of the repository (in `git worktree list` order)."""
    proc = run_git(["worktree", "list", "--porcelain", "-z"], repo.main_worktree
                   if repo.main_worktree.is_dir() else repo.common_dir)
    admin_names = _admin_names(repo.common_dir)
    result: list[Worktree] = []
    main_key = _key(repo.main_worktree)
    for block in _blocks(proc.stdout):
        path = Path(block["worktree"])
        if "bare" in block:
            continue
        is_main = _key(path) == main_key
        name, git_dir = admin_names.get(_key(path), (path.name or "main", repo.common_dir)) \
            if is_main else \
            admin_names.get(_key(path), (path.name, repo.common_dir / "worktrees" / path.name))
        branch = block.get("branch")
        result.append(Worktree(
            path=path,
            head=block.get("HEAD") if block.get("HEAD", ZERO_OID).strip("0") else None,
            branch=branch.removeprefix("refs/heads/") if branch else None,
            is_main=is_main,
            name=name,
            git_dir=git_dir,
            locked="locked" in block,
            prunable="prunable" in block,
        ))
    return result


def operation_in_progress(git_dir: Path) -> str | None:
    """The git operation (merge, rebase, ...) under way in a worktree, if any."""
    for marker, operation in _OPERATION_MARKERS:
        if (git_dir / marker).exists():
            return operation
    return None


def _blocks(output: bytes) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in output.split(b"\0"):
        line = raw.decode("utf-8", "surrogateescape")
        if not line:
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _, value = line.partition(" ")
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


def _admin_names(common_dir: Path) -> dict[str, tuple[str, Path]]:
    """Map each linked worktree's path to its admin name and git dir."""
    names: dict[str, tuple[str, Path]] = {}
    admin_root = common_dir / "worktrees"
    try:
        entries = list(os.scandir(admin_root))
    except FileNotFoundError:
        return names
    for entry in entries:
        try:
            gitdir = (Path(entry.path) / "gitdir").read_text("utf-8", "surrogateescape").strip()
        except OSError:
            continue
        dotgit = Path(gitdir)
        if not dotgit.is_absolute():
            dotgit = (Path(entry.path) / dotgit).resolve()
        names[_key(dotgit.parent)] = (entry.name, Path(entry.path))
    return names


def _key(path: Path) -> str:
    return os.path.normpath(os.path.abspath(path))
