"""Snapshots of a worktree as a git tree, without touching the worktree's index or files.

A full snapshot starts from the tree of the agent's index (read into memory, never written)
and applies what libgit2's status reports as changed in the working tree; an incremental
snapshot starts from the previous checkpoint's tree and re-reads only the paths it is given.
Both produce the tree `git add -A && git write-tree` would produce in a temporary index,
except that new untracked files over the size cap are left out (and reported). An incremental
snapshot writes its new blobs and trees as one pack (git.object_batch), complete before it
returns the tree's id.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2.enums import FileStatus

from gitwarden.checkpoints.snapshot_git import git_tree_snapshot
from gitwarden.git.object_batch import OBJ_BLOB, ObjectBatch
from gitwarden.git.objects import MODE_BLOB, MODE_EXEC, MODE_GITLINK, MODE_LINK, MODE_TREE
from gitwarden.git.repository import common_dir_of
from gitwarden.git.trees import Entry, KnownTrees, edit_tree, lookup

_WORKTREE_CHANGES = (FileStatus.WT_NEW | FileStatus.WT_MODIFIED | FileStatus.WT_DELETED
                     | FileStatus.WT_TYPECHANGE | FileStatus.WT_RENAMED)


class SnapshotSkipped(Exception):
    """The worktree cannot be snapshotted right now (the reason says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ObjectStoreError(OSError):
    """A blob could not be written (an OSError, so that the snapshot's retry names the store)."""


@dataclass(frozen=True)
class Snapshot:
    tree: pygit2.Oid
    left_out: tuple[str, ...] = ()
    incremental: bool = False
    # The trees the snapshot read and wrote: the diff against the previous checkpoint reads
    # them from here instead of from the object store.
    trees: KnownTrees = field(default_factory=dict, compare=False, repr=False)


@dataclass
class _Reader:
    """Turns paths on disk into tree entries, applying the untracked size cap."""

    repo: pygit2.Repository
    max_untracked_size: int
    filemode: bool
    left_out: list[str] = field(default_factory=list)
    batch: ObjectBatch | None = None  # blobs gathered here instead of written one by one
    _index: pygit2.Index | None = None
    _filters_configured: bool | None = None

    @property
    def root(self) -> str:
        return str(self.repo.workdir)

    def index(self) -> pygit2.Index:
        if self._index is None:
            # A freshly opened repository loads the index file once, read-only; never written.
            self._index = self.repo.index
        return self._index

    def tracked_mode(self, rel: str) -> int | None:
        index = self.index()
        if rel not in index:
            return None
        return int(index[rel].mode)

    def entry(self, rel: str, st: os.stat_result, *, tracked: int | None) -> Entry:
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            return self._blob(rel), MODE_LINK
        if stat.S_ISDIR(mode):
            return self._gitlink(rel)
        if not stat.S_ISREG(mode):
            return None
        if tracked is None and st.st_size > self.max_untracked_size:
            self.left_out.append(rel)
            return None
        if self.filemode:
            file_mode = MODE_EXEC if mode & stat.S_IXUSR else MODE_BLOB
        else:
            file_mode = tracked if tracked in (MODE_BLOB, MODE_EXEC) else MODE_BLOB
        return self._blob(rel), file_mode

    def _blob(self, rel: str) -> pygit2.Oid:
        full = os.path.join(self.root, rel)
        if os.path.islink(full):
            return self._store(os.readlink(os.fsencode(full)))
        if self._plain(rel):
            with open(full, "rb") as handle:
                return self._store(handle.read())
        # Attributes or autocrlf may apply: let libgit2 run the clean filters like `git add`.
        try:
            return self.repo.create_blob_fromworkdir(rel)
        except pygit2.GitError as exc:  # the file went away, or the store refused the blob
            problem = object_store_problem(Path(common_dir_of(self.repo.path)))
            if problem is not None:
                raise ObjectStoreError(problem) from exc
            raise

    def _store(self, data: bytes) -> pygit2.Oid:
        if self.batch is not None:
            return self.batch.add(OBJ_BLOB, data)
        try:
            return self.repo.create_blob(data)
        except (OSError, pygit2.GitError) as exc:
            raise ObjectStoreError(str(exc)) from exc

    def _plain(self, rel: str) -> bool:
        """No conversion can apply: no autocrlf and no attributes file on the path's way."""
        if self._filters_configured is None:
            self._filters_configured = _filters_configured(self.repo)
        if self._filters_configured:
            return False
        parts = rel.split("/")[:-1]
        return not any(os.path.exists(os.path.join(self.root, *parts[:depth], ".gitattributes"))
                       for depth in range(len(parts) + 1))

    def _gitlink(self, rel: str) -> Entry:
        """A nested repository is a boundary: record its HEAD like `git add` does."""
        try:
            nested = pygit2.Repository(os.path.join(self.root, rel))
            if nested.head_is_unborn:
                raise pygit2.GitError("no commit checked out")
            target = nested.head.target
            assert isinstance(target, pygit2.Oid)
            return target, MODE_GITLINK
        except (pygit2.GitError, KeyError, ValueError):
            self.left_out.append(rel + "/")
            return None


def _filters_configured(repo: pygit2.Repository) -> bool:
    config = repo.config
    for key in ("core.autocrlf", "core.attributesFile", "core.eol"):
        if key in config and str(config[key]).lower() not in ("false", "input", ""):
            return True
    if "core.autocrlf" in config and str(config["core.autocrlf"]).lower() == "input":
        return True
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    candidates = [os.path.join(repo.path, "info", "attributes"),
                  os.path.join(common_dir_of(repo.path), "info", "attributes"),
                  os.path.join(xdg, "git", "attributes"), "/etc/gitattributes"]
    return any(os.path.exists(path) for path in candidates)


def open_repo_config_filemode(repo: pygit2.Repository) -> bool:
    try:
        return bool(repo.config.get_bool("core.filemode"))
    except (KeyError, pygit2.GitError):
        return True


def object_store_problem(common_dir: Path) -> str | None:
    """Why new objects cannot be written (the object store named), or None."""
    objects = common_dir / "objects"
    try:
        fd, name = tempfile.mkstemp(prefix="tmp_gitwarden_", dir=objects)
    except OSError as exc:
        return f"cannot write to the object store {objects}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(name)
    return None


UNMERGED_REASON = "the index has unmerged paths (merge or rebase in progress)"


def full_snapshot(repo: pygit2.Repository, *, max_untracked_size: int) -> Snapshot:
    """The whole worktree as a tree: the index tree plus every working-tree change."""
    try:
        return _full_snapshot_libgit2(repo, max_untracked_size=max_untracked_size)
    except UnicodeError:
        return snapshot_by_git(repo, max_untracked_size=max_untracked_size)


def snapshot_by_git(repo: pygit2.Repository, *, max_untracked_size: int) -> Snapshot:
    """The same tree made by git itself: pygit2 cannot write names that are not UTF-8."""
    scratch = Path(common_dir_of(repo.path)) / "gitwarden" / "tmp"
    tree, left_out = git_tree_snapshot(Path(repo.workdir), Path(repo.path), scratch,
                                       max_untracked_size)
    return Snapshot(tree=pygit2.Oid(hex=tree), left_out=left_out)


def _full_snapshot_libgit2(repo: pygit2.Repository, *, max_untracked_size: int) -> Snapshot:
    reader = _Reader(repo, max_untracked_size, open_repo_config_filemode(repo))
    index = reader.index()
    if index.conflicts is not None:
        raise SnapshotSkipped(UNMERGED_REASON)
    base = index.write_tree()
    updates: dict[str, Entry] = {}
    status = repo.status(untracked_files="all")
    root = reader.root
    for path, flags in status.items():
        if not flags & _WORKTREE_CHANGES:
            continue
        rel = path.rstrip("/")
        tracked = None if flags & FileStatus.WT_NEW else reader.tracked_mode(rel)
        updates[rel] = _read_path(reader, root, rel, tracked)
    known: KnownTrees = {}
    tree = apply_updates(repo, base, updates, known) if updates else base
    return Snapshot(tree=tree or _empty_tree(repo), left_out=tuple(sorted(reader.left_out)),
                    trees=known)


# (path, what it is): "untracked"; "worktree" with the index mode (or None) for a tracked
# file to read from disk; or an index entry (object id hex, mode) / None for staged-only paths.
StatusChange = tuple[str, str, str | None, int | None]


def snapshot_from_status(repo: pygit2.Repository, head_tree: pygit2.Oid | None,
                         changes: Iterable[StatusChange], *,
                         max_untracked_size: int) -> Snapshot:
    """The same tree as `full_snapshot`, from HEAD's tree and what `git status` listed.

    Paths that differ only between HEAD and the index take the index entry git reported;
    paths whose file differs from the index, and untracked ones, are read from disk. Nothing
    else can differ from HEAD, so the agent's index is never loaded.
    """
    reader = _Reader(repo, max_untracked_size, open_repo_config_filemode(repo))
    root = reader.root
    updates: dict[str, Entry] = {}
    for rel, kind, oid, mode in changes:
        if kind == "index":
            updates[rel] = None if oid is None or mode is None else (pygit2.Oid(hex=oid), mode)
        elif kind == "untracked":
            updates[rel] = _read_path(reader, root, rel, None)
        else:
            updates[rel] = _read_path(reader, root, rel, mode or MODE_BLOB)
    known: KnownTrees = {}
    tree = apply_updates(repo, head_tree, updates, known) if updates else head_tree
    return Snapshot(tree=tree or _empty_tree(repo), left_out=tuple(sorted(reader.left_out)),
                    trees=known)


def incremental_snapshot(repo: pygit2.Repository, base_tree: pygit2.Oid,
                         changed_paths: Iterable[str], *,
                         max_untracked_size: int) -> Snapshot | None:
    """The previous tree with `changed_paths` re-read from disk; None when unsure.

    `base_tree` is a trusted base (checkpoints.freshness): no index entry and no ignore rule
    changed since it was taken, so what it holds is still tracked or not ignored.
    """
    batch = ObjectBatch(repo, Path(common_dir_of(repo.path)) / "objects")
    reader = _Reader(repo, max_untracked_size, open_repo_config_filemode(repo), batch=batch)
    root = reader.root
    updates: dict[str, Entry] = {}
    known: KnownTrees = {}
    odb = repo.odb
    for rel in _normalize(root, changed_paths):
        if rel is None:
            return None
        if _inside_nested_repo(root, rel):
            return None
        full = os.path.join(root, rel)
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            updates[rel] = None
            continue
        if stat.S_ISDIR(st.st_mode):
            if _is_nested_repo(full) or not _walk_new_dir(reader, root, rel, updates):
                return None
            continue
        # Reading the index costs more than the rest: consult it only when tracking matters.
        # A file the base holds was tracked or not ignored, and on a trusted base neither the
        # index nor an ignore rule changed since (checkpoints.freshness): it still is.
        in_base = lookup(odb, base_tree, rel, known)
        kept = in_base is not None and in_base[0] != MODE_TREE
        needs_index = ((not kept and repo.path_is_ignored(rel)) or not reader.filemode
                       or (stat.S_ISREG(st.st_mode) and st.st_size > max_untracked_size))
        tracked = reader.tracked_mode(rel) if needs_index else MODE_BLOB
        if needs_index and tracked is None and repo.path_is_ignored(rel):
            updates[rel] = None
            continue
        updates[rel] = _entry_or_none(reader, rel, st, tracked)
        if batch.full:
            batch.write()
    tree = apply_updates(repo, base_tree, updates, known, batch) if updates else base_tree
    batch.write()  # one pack for every new blob and tree, complete before the id is used
    return Snapshot(tree=tree or _empty_tree(repo), left_out=tuple(sorted(reader.left_out)),
                    incremental=True, trees=known)


def _read_path(reader: _Reader, root: str, rel: str, tracked: int | None) -> Entry:
    try:
        st = os.lstat(os.path.join(root, rel))
    except (FileNotFoundError, NotADirectoryError):
        return None
    return _entry_or_none(reader, rel, st, tracked)


def _entry_or_none(reader: _Reader, rel: str, st: os.stat_result, tracked: int | None) -> Entry:
    try:
        return reader.entry(rel, st, tracked=tracked)
    except ObjectStoreError:
        raise  # the file is there but could not be saved: never recorded as gone
    except (OSError, pygit2.GitError, KeyError):
        # Deleted or replaced between the scan and the read: what is on disk now is "absent".
        return None


def _walk_new_dir(reader: _Reader, root: str, rel: str, updates: dict[str, Entry]) -> bool:
    """Replace the subtree at `rel` with what is on disk; False when a nested repo is met."""
    repo = reader.repo
    if reader.tracked_mode(rel) is None and repo.path_is_ignored(rel + "/"):
        updates[rel] = None
        return True
    updates[rel] = None  # rebuild this directory from scratch
    stack = [rel]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(root, current)))
        except OSError:
            continue
        for item in entries:
            if item.name == ".git":
                return False
            child = f"{current}/{item.name}"
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            tracked = reader.tracked_mode(child)
            if stat.S_ISDIR(st.st_mode):
                if _is_nested_repo(item.path):
                    return False
                if repo.path_is_ignored(child + "/") and not _has_tracked_under(reader, child):
                    continue
                stack.append(child)
                continue
            if tracked is None and repo.path_is_ignored(child):
                continue
            entry = _entry_or_none(reader, child, st, tracked)
            if entry is not None:
                updates[child] = entry
            if reader.batch is not None and reader.batch.full:
                reader.batch.write()
    return True


def _has_tracked_under(reader: _Reader, rel: str) -> bool:
    prefix = rel + "/"
    return any(entry.path.startswith(prefix) for entry in reader.index())


def _is_nested_repo(path: str) -> bool:
    return os.path.lexists(os.path.join(path, ".git"))


def _inside_nested_repo(root: str, rel: str) -> bool:
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        if _is_nested_repo(os.path.join(root, *parts[:depth])):
            return True
    return False


def _normalize(root: str, paths: Iterable[str]) -> list[str | None]:
    """Worktree-relative POSIX paths; None for a path outside the worktree, the worktree
    itself, or inside a nested repository's git metadata (a full snapshot reads those)."""
    result: list[str | None] = []
    seen: set[str] = set()
    for raw in paths:
        text = os.fspath(raw)
        absolute = text if os.path.isabs(text) else os.path.join(root, text)
        rel = os.path.relpath(os.path.normpath(absolute), root)
        if rel == "." or rel.startswith(".."):
            result.append(None)
            continue
        rel = rel.replace(os.sep, "/")
        if rel == ".git" or rel.startswith(".git/"):
            continue  # the worktree's own git metadata is not content
        if "/.git/" in f"/{rel}/":
            result.append(None)  # a nested repository moved: its HEAD is a gitlink entry
            continue
        if rel not in seen:
            seen.add(rel)
            result.append(rel)
    return sorted(result, key=lambda r: (r is not None, r or ""))


def apply_updates(repo: pygit2.Repository, base: pygit2.Oid | None,
                  updates: Mapping[str, Entry], known: KnownTrees | None = None,
                  batch: ObjectBatch | None = None) -> pygit2.Oid | None:
    """Write the tree `base` with `updates` applied; None when the result is empty (see
    git.trees.edit_tree)."""
    return edit_tree(repo, base, updates, known, batch)


def _empty_tree(repo: pygit2.Repository) -> pygit2.Oid:
    return repo.TreeBuilder().write()
