"""Whether one written file certainly differs from its blob in HEAD, without starting git.

The daemon's leading edge (the first write to a path another agent changed) asks this before
it would run `git status -- PATH`: a tracked regular file whose bytes hash to another blob than
HEAD's is listed by git status, so the answer is known without a process. Only a certain yes is
given; everything git could judge otherwise (an untracked or deleted file, a symlink, the same
content as HEAD, a file git filters on the way in: attributes, autocrlf) is None, and the
caller asks git. Read-only: nothing here writes an object, an index or a ref.

Asking libgit2 for a file's attributes loads the worktree's whole index (tens of milliseconds
at 20k files, on every question since no repository is kept), so attributes are asked for
only when some attribute file could apply: a `.gitattributes` in a parent directory of the
path (in the worktree, HEAD or the index), `info/attributes`, the user's or the system's
attributes file. Whether the index holds any `.gitattributes` is read once per version of the
index file (a byte search, cached per worktree under its stat), and an index git wrote in
version 4 (paths prefix-compressed) always counts as holding one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pygit2

from gitwarden.git.objects import MODE_BLOB, MODE_EXEC, tree_entry

# Attributes under which git's blob is not the file's bytes.
_FILTERING = ("filter", "text", "eol", "crlf", "ident", "working-tree-encoding")
_ATTRIBUTES = ".gitattributes"
_MAX_INDEXES = 256  # worktrees whose index was searched (the oldest forgotten first)


class QuickDiff:
    """Opens the worktree's repository per question and lets it go: a leading edge is rare,
    and a repository kept per worktree would hold its pack maps (tens of MB at 32 agents)."""

    def __init__(self) -> None:
        # index file -> (its stat, whether it may hold a .gitattributes)
        self._index_attributes: dict[str, tuple[tuple[int, int, int], bool]] = {}

    def __len__(self) -> int:
        """Index files remembered (bounded by _MAX_INDEXES)."""
        return len(self._index_attributes)

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
            entry = tree_entry(repo.head.peel(pygit2.Tree), rel)
            if entry is None:
                return None
            if entry.filemode not in (MODE_BLOB, MODE_EXEC) or \
                    self._filtered(repo, worktree, rel):
                return None
            path = os.path.join(worktree, rel)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None
            return str(pygit2.hashfile(path)) != str(entry.id) or None
        except (KeyError, ValueError, OSError, pygit2.GitError):
            return None

    def _filtered(self, repo: pygit2.Repository, worktree: Path, rel: str) -> bool:
        config = repo.config
        autocrlf = str(config["core.autocrlf"]).lower() if "core.autocrlf" in config else "false"
        if autocrlf not in ("false", "0", "no", "off"):
            return True
        if not self._may_have_attributes(repo, config, worktree, rel):
            return False
        return any(repo.get_attr(rel, name) is not None for name in _FILTERING)

    def _may_have_attributes(self, repo: pygit2.Repository, config: pygit2.Config,
                             worktree: Path, rel: str) -> bool:
        """Whether any attribute file could apply to `rel` (True when unsure)."""
        parents = [str(parent) for parent in PurePosixPath(rel).parents]
        candidates = [_ATTRIBUTES if p == "." else f"{p}/{_ATTRIBUTES}" for p in parents]
        if any(os.path.lexists(os.path.join(worktree, c)) for c in candidates):
            return True
        tree = repo.head.peel(pygit2.Tree)
        if any(tree_entry(tree, c) is not None for c in candidates):
            return True
        if self._index_may_hold_attributes(Path(repo.path) / "index"):
            return True
        return any(os.path.lexists(path) for path in _attribute_files(repo, config))

    def _index_may_hold_attributes(self, index: Path) -> bool:
        try:
            st = os.stat(index)
        except FileNotFoundError:
            return False
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        known = self._index_attributes.get(str(index))
        if known is not None and known[0] == stamp:
            return known[1]
        data = index.read_bytes()
        may = data[4:8] not in (b"\0\0\0\x02", b"\0\0\0\x03") or \
            _ATTRIBUTES.encode() in data
        self._index_attributes.pop(str(index), None)
        self._index_attributes[str(index)] = (stamp, may)
        while len(self._index_attributes) > _MAX_INDEXES:
            del self._index_attributes[next(iter(self._index_attributes))]
        return may


def _attribute_files(repo: pygit2.Repository, config: pygit2.Config) -> list[str]:
    """The repository's, the user's and the system's attribute files, as git and libgit2
    look for them."""
    git_dir = Path(repo.path)
    try:  # a linked worktree's git dir names the common one
        common = git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        common = git_dir
    files = [str(common / "info" / "attributes"), "/etc/gitattributes"]
    if "core.attributesFile" in config:
        files.append(os.path.expanduser(str(config["core.attributesFile"])))
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    files.append(os.path.join(xdg, "git", "attributes"))
    system = pygit2.option(pygit2.enums.Option.GET_SEARCH_PATH,
                           pygit2.enums.ConfigLevel.SYSTEM)
    files += [os.path.join(d, "gitattributes") for d in str(system or "").split(os.pathsep) if d]
    return files
