"""The portable path: watchdog's platform observer (FSEvents on macOS, kqueue on BSD, inotify
on Linux when GITWARDEN_WATCHER=observer) feeding the same sink as the inotify fast path.

Observers cost a thread (and on kqueue a descriptor per file) per scheduled watch, so this
adapter schedules one recursive watch per tree top and lets through only events whose
directory the daemon asked for: events under ignored trees are dropped here. FSEvents does not
descend into them at all; kqueue and inotify observers do, which is why Linux keeps its own
per-directory fast path. Events arrive on the observer's thread; the sink must only enqueue.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from gitwarden.daemon.watcher import FsEvent, WatchLimitError, watch_limit

_KINDS = {"created": "create", "modified": "write", "closed": "write", "deleted": "delete"}


class ObserverWatcher(FileSystemEventHandler):
    """Recursive observer watches on tree tops, filtered down to the directories added."""

    def __init__(self, sink: Callable[[FsEvent], None], observer_factory: Callable[[], Any],
                 kind: str) -> None:
        self.kind = kind
        self._sink = sink
        self._factory = observer_factory
        self._observer: Any = None
        self._lock = threading.Lock()
        self._dirs: set[str] = set()
        self._roots: dict[str, Any] = {}  # tree top -> its recursive ObservedWatch
        self._flat: dict[str, Any] = {}  # a directory watched on its own -> its watch
        self._aliases: dict[str, str] = {}  # real path of a tree top -> the path it was added as
        self._limit = watch_limit()
        wanted: list[type[FileSystemEvent]] = [
            FileCreatedEvent, DirCreatedEvent, FileDeletedEvent, DirDeletedEvent,
            FileMovedEvent, DirMovedEvent, FileClosedEvent]
        if kind != "observer:inotify":
            wanted.append(FileModifiedEvent)  # no close events outside inotify
        self._event_filter = wanted

    def start(self) -> None:
        try:
            self._observer = self._factory()
            self._observer.daemon = True
            self._observer.start()
        except OSError as exc:
            raise WatchLimitError(exc.errno, f"cannot start the {self.kind} watcher: "
                                  f"{exc}") from exc

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            with contextlib.suppress(Exception):
                observer.stop()
                observer.join(timeout=2)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._dirs)

    def watched(self) -> set[str]:
        with self._lock:
            return set(self._dirs)

    def add(self, directory: str, *, tree: bool = True) -> bool:
        """Watch one directory; False when it vanished. Raises WatchLimitError at a limit.
        `tree=False`: its subdirectories will not be asked for (git metadata), so it gets a
        watch of its own instead of a recursive one."""
        if self._observer is None:
            raise WatchLimitError(errno.EMFILE, "the watcher is not running")
        with self._lock:
            if directory in self._dirs:
                return True
            if self._limit is not None and len(self._dirs) >= self._limit:
                raise WatchLimitError(errno.ENOSPC, "watch limit reached")
            covered = any(_under(directory, root) for root in self._roots)
        if not os.path.isdir(directory):
            return False
        if not covered:
            self._schedule(directory, tree)
        with self._lock:
            self._dirs.add(directory)
        return True

    def _schedule(self, directory: str, recursive: bool) -> None:
        # The real path is watched (inotify does not follow a symlinked directory, FSEvents
        # reports real paths anyway); events are mapped back to the name it was added as.
        real = os.path.realpath(directory)
        try:
            watch = self._observer.schedule(self, real, recursive=recursive,
                                            event_filter=self._event_filter)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EMFILE, errno.ENFILE):
                raise WatchLimitError(exc.errno, str(exc)) from exc
            raise
        with self._lock:
            if real != directory:
                self._aliases[real] = directory
        if not recursive:
            with self._lock:
                self._flat[directory] = watch
            return
        with self._lock:
            subsumed = [root for root in self._roots if _under(root, directory)]
            for root in subsumed:
                self._aliases.pop(os.path.realpath(root), None)
            old = [self._roots.pop(root) for root in subsumed]
            self._roots[directory] = watch
        for previous in old:
            self._unschedule(previous)

    def remove_tree(self, root: str) -> int:
        """Stop watching `root` and every directory under it; returns how many."""
        with self._lock:
            doomed = {d for d in self._dirs if _under(d, root)}
            self._dirs -= doomed
            tops = [top for top in self._roots if _under(top, root)]
            watches = [self._roots.pop(top) for top in tops]
            flat = [d for d in self._flat if _under(d, root)]
            watches += [self._flat.pop(d) for d in flat]
            for gone in (*tops, *flat):
                self._aliases.pop(os.path.realpath(gone), None)
        for watch in watches:
            self._unschedule(watch)
        return len(doomed)

    def _unschedule(self, watch: Any) -> None:
        if self._observer is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(watch)

    # --- watchdog's handler protocol (runs on the observer's thread) -------------------------

    def dispatch(self, event: FileSystemEvent) -> None:
        is_dir = bool(event.is_directory)
        if event.event_type == "moved":
            self._emit(_text(event.src_path), "move-from", is_dir)
            self._emit(_text(event.dest_path), "move-to", is_dir)
            return
        kind = _KINDS.get(event.event_type)
        if kind is not None and not (kind == "write" and is_dir):
            self._emit(_text(event.src_path), kind, is_dir)

    def _emit(self, path: str, kind: str, is_dir: bool) -> None:
        path = self._as_added(path)
        with self._lock:
            wanted = os.path.dirname(path) in self._dirs
        if wanted:
            self._sink(FsEvent(path=path, kind=kind, is_dir=is_dir))

    def _as_added(self, path: str) -> str:
        """Events name real paths (/private/var/... for /var/... on macOS): map them back."""
        if not self._aliases:
            return path
        with self._lock:
            for real, added in self._aliases.items():
                if _under(path, real):
                    return added + path[len(real):]
        return path


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _text(path: bytes | str) -> str:
    return os.fsdecode(path)
