"""Objects that must not outlive a question stay out of the repository's object store.

A prediction (would this rebase be clean? does the base merged with these agents build?)
makes libgit2 write merged blobs, trees and candidate commits. Written into the repository,
they would stay behind as unreachable loose objects that push every agent commit into
`git gc --auto`. A quarantine is a second handle on the repository with an object database
of its own: a private loose-object directory, with the repository's store as its alternate
(libgit2 reads from an alternate but never writes into one, so everything the repository has
stays visible and every new object lands in the private directory); the directory is removed
when the question is answered. Only what must outlive it
is copied into the repository with `keep` (a candidate about to be checked out), and then
only the objects the repository lacks. Nothing in the repository's store is ever removed
here.

A process killed inside a quarantine leaves its directory behind; `sweep_stale` removes the
directories of processes that no longer run.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pygit2

from gitwarden.git.repository import STATE_DIR_NAME, common_dir_of

QUARANTINE_DIR = "quarantine"


def common_dir(repo: pygit2.Repository) -> Path:
    """The common git dir of `repo` (a linked worktree's names it in `commondir`)."""
    return Path(common_dir_of(repo.path))


def quarantine_root(common: Path) -> Path:
    return common / STATE_DIR_NAME / QUARANTINE_DIR


class _Slots:
    """The directories of one process's quarantines: `<pid>-<slot>` in the owner-only
    quarantine root, a slot taken by one quarantine at a time and used again after it. pygit2
    (1.21) keeps a reference to every path string given to `Odb()` and `add_disk_alternate`,
    so a daemon that asked with a new directory name each time would keep every name for
    good; the same slot hands out the same Path, whose string pathlib keeps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[tuple[Path, int]] = set()
        self._paths: dict[tuple[Path, int], Path] = {}

    def take(self, root: Path) -> Path:
        with self._lock:
            slot = next(n for n in itertools.count() if (root, n) not in self._busy)
            self._busy.add((root, slot))
            path = self._paths.get((root, slot))
            if path is None or not path.name.startswith(f"{os.getpid()}-"):  # after a fork
                if len(self._paths) >= _PATHS_KEPT:
                    self._paths.clear()
                path = self._paths[(root, slot)] = root / f"{os.getpid()}-{slot}"
        return path

    def give_back(self, root: Path, path: Path) -> None:
        with self._lock:
            self._busy.discard((root, int(path.name.rsplit("-", 1)[1])))


_PATHS_KEPT = 64  # slots of every repository this process asked in; cleared when more
_SLOTS = _Slots()


@contextlib.contextmanager
def quarantine_dir(common: Path) -> Iterator[Path]:
    """A private object directory for one question, removed on exit."""
    root = quarantine_root(common)
    # the state dir first, owner-only: mkdir(parents=True) would give it the umask's mode
    root.parent.mkdir(mode=0o700, exist_ok=True)
    root.mkdir(mode=0o700, exist_ok=True)
    objects = _SLOTS.take(root)
    try:
        # left by a process of the same pid that was killed, or a removal that failed
        shutil.rmtree(objects, ignore_errors=True)
        objects.mkdir(mode=0o700)
        yield objects
    finally:
        shutil.rmtree(objects, ignore_errors=True)
        _SLOTS.give_back(root, objects)


def divert_writes(repo: pygit2.Repository, objects: Path) -> None:
    """Make `repo` (a handle nobody else uses) write new objects into `objects`.

    Not by adding a backend in front of the repository's own: pygit2's `add_backend` keeps a
    reference to the backend it is given for good, one object per quarantine, and the daemon
    opens hundreds of them an hour."""
    odb = pygit2.Odb(str(objects))
    odb.add_disk_alternate(_objects_dir(repo.path))
    repo.set_odb(odb)


@functools.lru_cache(maxsize=16)
def _objects_dir(git_dir: str) -> str:
    """The repository's object directory; the same string each time (see _Slots)."""
    return os.path.join(common_dir_of(git_dir), "objects")


def git_env_for(objects: Path, common: Path) -> dict[str, str]:
    """The environment that makes the git CLI write into `objects` and read the repository's
    objects too (as git's own receive-pack quarantine does)."""
    return {"GIT_OBJECT_DIRECTORY": str(objects),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(common / "objects")}


@contextlib.contextmanager
def quarantined(repo: pygit2.Repository) -> Iterator[pygit2.Repository]:
    """A new handle on `repo` whose writes land in a private directory, removed on exit."""
    with quarantine_dir(common_dir(repo)) as objects:
        scratch = pygit2.Repository(repo.path)
        try:
            divert_writes(scratch, objects)
            yield scratch
        finally:
            scratch.free()


def keep(scratch: pygit2.Repository, target: pygit2.Repository, oid: str) -> int:
    """Copy the object `oid` and everything it reaches that `target` lacks from the
    quarantine `scratch` into `target`'s own store; returns how many objects were written.

    Trees the repository already has are not descended into (whatever wrote them wrote
    their entries first), so the cost follows what the quarantine added."""
    store = target.odb
    written = 0
    pending = [pygit2.Oid(hex=oid)]
    while pending:
        current = pending.pop()
        if store.exists(current):
            continue
        obj = scratch[current]
        if isinstance(obj, pygit2.Commit):
            pending.append(obj.tree_id)
            pending.extend(obj.parent_ids)
        elif isinstance(obj, pygit2.Tree):
            pending.extend(entry.id for entry in obj if entry.filemode != pygit2.enums.
                           FileMode.COMMIT)
        elif isinstance(obj, pygit2.Tag):
            pending.append(obj.target)
        # children first would be tidier, but a reader never sees an object before its
        # writer returns, and nothing names `oid` until keep() is done
        store.write(obj.type, obj.read_raw())
        written += 1
    return written


def sweep_stale(common: Path) -> int:
    """Remove quarantine directories whose process no longer runs; returns how many."""
    root = quarantine_root(common)
    removed = 0
    try:
        entries = list(root.iterdir())
    except OSError:
        return 0
    for entry in entries:
        pid_text = entry.name.split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
