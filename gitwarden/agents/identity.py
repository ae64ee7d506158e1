"""Which agent is acting: `GITWARDEN_AGENT`, else the worktree containing a directory.

This runs on every hook call, so it reads git's files directly instead of running git: a
linked worktree's `.git` file names its admin dir (`<common dir>/worktrees/<name>`), whose
`commondir` file names the common dir; a main worktree has a `.git` directory.
"""

from __future__ import annotations

import os
from contextvars import ContextVar

AGENT_ENV = "GITWARDEN_AGENT"

# The environment of the process a guard decides for. The daemon answers hook and guard calls
# for short client processes: it sets their environment here for the thread answering, so that
# every reader of GITWARDEN_AGENT & co sees the caller's, never the daemon's own.
CALL_ENV: ContextVar[dict[str, str] | None] = ContextVar("gitwarden_call_env", default=None)


def call_environ() -> dict[str, str] | os._Environ[str]:
    """The caller's environment: the client's when the daemon answers for it, else ours."""
    env = CALL_ENV.get()
    return os.environ if env is None else env


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
    """The worktree containing `start` (a file or directory), without running git.

    The path is resolved through symbolic links first, and nested repositories and
    submodules are climbed past: the answer is the innermost worktree of a repository that
    gitwarden manages (it has a state dir or a gitwarden.toml), else the innermost one."""
    current = os.path.realpath(start)
    if not os.path.isdir(current):
        current = os.path.dirname(current)
    innermost: WorktreeLocation | None = None
    while True:
        location = _read_dotgit(current, os.path.join(current, ".git"))
        if location is not None:
            if _managed(location):
                return location
            innermost = innermost or location
        parent = os.path.dirname(current)
        if parent == current:
            return innermost
        current = parent


def _managed(location: WorktreeLocation) -> bool:
    return os.path.isdir(os.path.join(location.common_dir, "gitwarden")) or \
        os.path.isfile(os.path.join(location.main_worktree, "gitwarden.toml"))


def worktree_roots(common_dir: str) -> list[tuple[str, str | None]]:
    """(root, admin name) of every worktree of the repository, the main one first (admin
    name None), read from `<common dir>/worktrees/*/gitdir`; roots are resolved."""
    roots: list[tuple[str, str | None]] = [
        (os.path.realpath(os.path.dirname(common_dir.rstrip(os.sep))), None)]
    admin = os.path.join(common_dir, "worktrees")
    try:
        names = sorted(os.listdir(admin))
    except OSError:
        return roots
    for name in names:
        try:
            with open(os.path.join(admin, name, "gitdir"), encoding="utf-8",
                      errors="surrogateescape") as handle:
                dotgit = handle.read().strip()
        except OSError:
            continue
        if dotgit:
            dotgit = os.path.normpath(os.path.join(admin, name, dotgit))
            roots.append((os.path.realpath(os.path.dirname(dotgit)), name))
    return roots


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
    if not os.path.exists(os.path.join(git_dir, "HEAD")):
        return None
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
    value = call_environ().get(AGENT_ENV, "").strip()
    return value or None
