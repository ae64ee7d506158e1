"""Small questions about commits, asked of the git CLI (lock-free, via run_git)."""

from __future__ import annotations

from pathlib import Path

from gitwarden.errors import GitError
from gitwarden.git.runner import run_git


def rev_parse_commit(cwd: Path, revision: str) -> str:
    """The commit id `revision` names; GitError when it names none."""
    return run_git(["rev-parse", "--verify", f"{revision}^{{commit}}"],
                   cwd).stdout.decode().strip()


def is_ancestor(cwd: Path, ancestor: str, descendant: str) -> bool:
    return run_git(["merge-base", "--is-ancestor", ancestor, descendant], cwd,
                   check=False).returncode == 0


def first_parent_commits_since(cwd: Path, since: str | None, head: str) -> list[str]:
    """First-parent commits after `since` up to `head`, oldest first (all of head's history
    when `since` is None)."""
    spec = [head] if since is None else [f"{since}..{head}"]
    proc = run_git(["rev-list", "--reverse", "--first-parent", *spec], cwd)
    return proc.stdout.decode().split()


def parents(cwd: Path, commit: str) -> list[str]:
    proc = run_git(["rev-list", "--parents", "-n", "1", commit], cwd, check=False)
    return proc.stdout.decode().split()[1:]


def tree_of(cwd: Path, commit: str) -> str | None:
    proc = run_git(["rev-parse", "--verify", "--quiet", f"{commit}^{{tree}}"], cwd,
                   check=False)
    return proc.stdout.decode().strip() or None


def commit_time(cwd: Path, commit: str) -> float:
    proc = run_git(["show", "-s", "--format=%ct", commit], cwd)
    return float(proc.stdout.decode().strip() or 0)


def subject(cwd: Path, commit: str) -> str:
    """The commit's subject line, or "?" when git cannot show it."""
    try:
        proc = run_git(["show", "-s", "--format=%s", commit], cwd)
    except GitError:
        return "?"
    return proc.stdout.decode("utf-8", "replace").strip()
