"""Merges and commits made in the object database only, with the git CLI: no worktree, index
or HEAD is read or written (`git merge-tree --write-tree`, git >= 2.38), and branch refs moved
only by compare-and-swap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitwarden.errors import GitError
from gitwarden.git.runner import run_git, split_z

# Exit code of `git merge-tree --write-tree` when the merge has conflicts.
_CONFLICTED = 1


@dataclass(frozen=True)
class TreeMerge:
    """The result of merging two commits in memory: the tree, or the conflicting paths."""

    tree: str | None
    conflicts: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return self.tree is not None and not self.conflicts


def merge_tree(cwd: Path, ours: str, theirs: str,
               env: Mapping[str, str] | None = None) -> TreeMerge:
    """Merge commit `theirs` into `ours` (their merge base found by git) without a worktree."""
    proc = run_git(["merge-tree", "--write-tree", "--name-only", "-z", "--no-messages",
                    ours, theirs], cwd, check=False, env=env)
    if proc.returncode not in (0, _CONFLICTED):
        raise GitError(f"git merge-tree failed: {proc.stderr.decode('utf-8', 'replace').strip()}"
                       " (gitwarden needs git 2.38 or newer for landing)")
    fields = proc.stdout.split(b"\0")
    tree = fields[0].decode().strip()
    if proc.returncode == 0:
        return TreeMerge(tree=tree)
    paths = tuple(dict.fromkeys(split_z(b"\0".join(fields[1:]))))
    return TreeMerge(tree=None, conflicts=paths)


def commit_tree(cwd: Path, tree: str, parents: list[str], message: str,
                env: Mapping[str, str] | None = None) -> str:
    """A new commit object with `tree` and `parents`; no ref moves."""
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    proc = run_git(args, cwd, input_bytes=message.encode("utf-8"), env=env)
    return proc.stdout.decode().strip()


def update_branch_cas(cwd: Path, branch: str, new: str, old: str, reason: str) -> bool:
    """Move refs/heads/`branch` from `old` to `new`; False when it no longer points at `old`."""
    proc = run_git(["update-ref", "-m", reason, f"refs/heads/{branch}", new, old], cwd,
                   check=False)
    return proc.returncode == 0


def commits_between(cwd: Path, since: str, head: str,
                    env: Mapping[str, str] | None = None) -> list[str]:
    """Commits reachable from head and not from since, oldest first (no merges skipped)."""
    proc = run_git(["rev-list", "--reverse", "--topo-order", f"{since}..{head}"], cwd, env=env)
    return proc.stdout.decode().split()


def count_between(cwd: Path, since: str, head: str) -> int:
    proc = run_git(["rev-list", "--count", f"{since}..{head}"], cwd)
    return int(proc.stdout.decode().strip() or 0)


def changed_between(cwd: Path, old: str, new: str,
                    env: Mapping[str, str] | None = None) -> list[str]:
    """Paths that differ between two commits or trees."""
    proc = run_git(["diff", "--name-only", "-z", "--no-renames", old, new], cwd, env=env)
    return split_z(proc.stdout)


def git_version(cwd: Path) -> tuple[int, ...]:
    text = run_git(["--version"], cwd).stdout.decode().split()[-1]
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())
