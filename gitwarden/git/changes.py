"""Changed sets: what each agent changed since it branched from the base.

An agent's changed set is every path changed between merge-base(base, HEAD) and HEAD, plus
every path `git status` reports (staged, unstaged, untracked and not ignored).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gitwarden.errors import GitError, UsageError
from gitwarden.git.runner import run_git, split_z


@dataclass(frozen=True)
class WorktreeChanges:
    """Where an agent stands against the base."""

    merge_base: str | None
    committed: tuple[str, ...] = ()
    uncommitted: tuple[str, ...] = ()
    untracked: tuple[str, ...] = ()
    ahead: int = 0
    behind: int = 0
    error: str | None = None
    changed: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        union = set(self.committed) | set(self.uncommitted) | set(self.untracked)
        object.__setattr__(self, "changed", tuple(sorted(union)))


def resolve_base(repo_dir: Path, base: str) -> str:
    """The commit id of the base branch (or any revision)."""
    proc = run_git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], repo_dir,
                   check=False)
    if proc.returncode != 0:
        raise UsageError(f"base {base!r} is not a branch or commit in this repository "
                         "(set `base` in gitwarden.toml or pass --base)")
    return proc.stdout.decode().strip()


def parse_status_z(output: bytes) -> tuple[list[str], list[str]]:
    """(tracked changes, untracked files) from `git status --porcelain=v1 -z --no-renames`."""
    tracked: list[str] = []
    untracked: list[str] = []
    for entry in split_z(output):
        code, path = entry[:2], entry[3:]
        (untracked if code == "??" else tracked).append(path)
    return tracked, untracked


def worktree_changes(worktree: Path, head: str | None,
                     base_commit: str | None) -> WorktreeChanges:
    """The changed set of one worktree against the base commit."""
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            status_future = pool.submit(_status, worktree)
            committed, merge_base, ahead, behind = _committed(worktree, head, base_commit)
            tracked, untracked = status_future.result()
    except GitError as exc:
        return WorktreeChanges(merge_base=None, error=exc.message)
    return WorktreeChanges(merge_base=merge_base, committed=tuple(committed),
                           uncommitted=tuple(tracked), untracked=tuple(untracked),
                           ahead=ahead, behind=behind)


def many_worktree_changes(
    items: Sequence[tuple[Path, str | None]], base_commit: str | None
) -> list[WorktreeChanges]:
    """worktree_changes for several worktrees at once (git runs in parallel)."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        return list(pool.map(lambda item: worktree_changes(item[0], item[1], base_commit),
                             items))


def _status(worktree: Path) -> tuple[list[str], list[str]]:
    proc = run_git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"],
                   worktree)
    return parse_status_z(proc.stdout)


def _committed(worktree: Path, head: str | None, base: str | None
               ) -> tuple[list[str], str | None, int, int]:
    if head is None or base is None:  # nothing committed yet on one side
        return [], None, 0, 0
    proc = run_git(["merge-base", base, head], worktree, check=False)
    merge_base = proc.stdout.decode().strip() or None
    counts = run_git(["rev-list", "--left-right", "--count", f"{base}...{head}"], worktree)
    behind, ahead = (int(n) for n in counts.stdout.split())
    if merge_base is None or merge_base == head:
        return [], merge_base, ahead, behind
    diff = run_git(["diff", "--name-only", "-z", "--no-renames", merge_base, head], worktree)
    return split_z(diff.stdout), merge_base, ahead, behind
