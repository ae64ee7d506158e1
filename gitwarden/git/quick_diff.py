"""Whether one written file certainly differs from its blob in HEAD, without starting git.

The daemon's leading edge (the first write to a path another agent changed) asks this before
it would run `git status -- PATH`: a tracked regular file whose bytes hash to another blob than
HEAD's is listed by git status, so the answer is known without a process. Only a certain yes is
given; everything git could judge otherwise (an untracked or deleted file, a symlink, the same
content as HEAD, a file git filters on the way in: attributes, autocrlf) is None, and the
caller asks git. Read-only: nothing here writes an object, an index or a ref.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pygit2

from gitwarden.git.objects import MODE_BLOB, MODE_EXEC

# Attributes under which git's blob is not the file's bytes.
_FILTERING = ("filter", "text", "eol", "crlf", "ident", "working-tree-encoding")


class QuickDiff:
    """Opens the worktree's repository per question and lets it go: a leading edge is rare,
    and a repository kept per worktree would hold its pack maps (tens of MB at 32 agents)."""

    def leading_dirty(self, worktree: Path, paths: list[str],
                      changed_by_other: Callable[[str], bool]) -> set[str] | None:
        """The one path of a leading edge (a path another agent changed) when it certainly
        differs from HEAD, as `git status -- PATH` would list it; None: ask git."""
        if len(paths) != 1 or not changed_by_other(paths[0]):
            return None
        return {paths[0]} if self.differs_from_head(worktree, paths[0]) else None

    def differs_from_head(self, worktree: Path, rel: str) -> bool | None:
        """True when `rel` is tracked in the worktree's HEAD (read now, not as last seen) as
        a regular file and its bytes now hash to another blob; None when only git can tell."""
        try:
            repo = pygit2.Repository(str(worktree))
            entry = repo.head.peel(pygit2.Tree)[rel]
            if entry.filemode not in (MODE_BLOB, MODE_EXEC) or self._filtered(repo, rel):
                return None
            path = os.path.join(worktree, rel)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None
            return str(pygit2.hashfile(path)) != str(entry.id) or None
        except (KeyError, ValueError, OSError, pygit2.GitError):
            return None

    @staticmethod
    def _filtered(repo: pygit2.Repository, rel: str) -> bool:
        config = repo.config
        autocrlf = str(config["core.autocrlf"]).lower() if "core.autocrlf" in config else "false"
        return autocrlf not in ("false", "0", "no", "off") or \
            any(repo.get_attr(rel, name) is not None for name in _FILTERING)
