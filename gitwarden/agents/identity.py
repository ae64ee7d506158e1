"""Which agent is acting: `GITWARDEN_AGENT`, else the worktree containing a directory.

This runs on every hook call, so it reads git's files directly instead of running git: a
linked worktree's `.git` file names its admin dir (`<common dir>/worktrees/<name>`), whose
`commondir` file names the common dir; a main worktree has a `.git` directory.
"""

from __future__ import annotations

import os

AGENT_ENV = "GITWARDEN_AGENT"


class WorktreeLocation:
    """A worktree found from a path inside it (a plain class: dataclasses is slow to import)."""

    __slots__ = ("admin_name", "common_dir", "git_dir", "root")

    def __init__(self, root: str, git_dir: str, common_dir: str,
                 admin_name: str | None) -> None:
        self.root = root
        self.git_dir = git_dir
        self.common_dir = common_dir
        self.admin_name = admin_name  # None for the main worktree

    def __repr__(self) -> str:
        return f"WorktreeLocation(root={self.root!r}, admin_name={self.admin_name!r})"

    @property
    def is_main(self) -> bool:
        return self.admin_name is None

    @property
    def main_worktree(self) -> str:
        """The main worktree, when the common dir is its `.git` (the usual layout)."""
        return os.path.dirname(self.common_dir.rstrip(os.sep))


def find_worktree(start: str) -> WorktreeLocation | None:
    """The worktree containing `start` (a file or directory), without running git."""
    current = os.path.abspath(start)
    if not os.path.isdir(current):
        current = os.path.dirname(current)
    while True:
        dotgit = os.path.join(current, ".git")
        location = _read_dotgit(current, dotgit)
        if location is not None:
            return location
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _read_dotgit(root: str, dotgit: str) -> WorktreeLocation | None:
    if os.path.isdir(dotgit):
        if not os.path.exists(os.path.join(dotgit, "HEAD")):
            return None
        return WorktreeLocation(root=root, git_dir=dotgit, common_dir=dotgit, admin_name=None)
    try:
        with open(dotgit, encoding="utf-8", errors="surrogateescape") as handle:
            first = handle.readline().strip()
    except OSError:
        return None
    if not first.startswith("gitdir:"):
        return None
    git_dir = os.path.normpath(os.path.join(root, first[len("gitdir:"):].strip()))
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8",
                  errors="surrogateescape") as handle:
            common = os.path.normpath(os.path.join(git_dir, handle.read().strip()))
    except OSError:
        # a submodule's .git file: its git dir is its own common dir
        return WorktreeLocation(root=root, git_dir=git_dir, common_dir=git_dir, admin_name=None)
    return WorktreeLocation(root=root, git_dir=git_dir, common_dir=common,
                            admin_name=os.path.basename(git_dir))


def agent_from_env() -> str | None:
    value = os.environ.get(AGENT_ENV, "").strip()
    return value or None
