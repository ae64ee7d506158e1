"""The Linux fast path: one inotify instance, one non-recursive watch per directory.

A recursive watch would walk ignored trees (node_modules, build output) and spend one
inotify watch per directory there; the daemon instead asks for each non-ignored directory
it wants. Events are handed to a sink as FsEvent values from watchdog's reader thread; the
sink must only enqueue them.

`fence` shows that every event queued before it was handed to the sink (watchman's cookie):
one inotify instance queues its events in order, so the event of a file created now in a
directory this instance watches comes after every event queued before it; once it is read,
so were they. The cookie directory is private to the daemon and its events never reach the
sink. A file written through a descriptor still open has had no IN_CLOSE_WRITE yet: such files
(IN_MODIFY, not handed to the sink) are remembered until closed, deleted or moved, for the
caller of a fence (`open_writes`).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import threading
from collections.abc import Callable

from watchdog.observers.inotify_c import CallbackId, InotifyEvent, InotifyFD, Mask, WatchDescriptor
from watchdog.observers.inotify_c import InotifyConstants as C

from gitwarden.daemon.watcher import OVERFLOW, FsEvent, WatchLimitError, watch_limit

log = logging.getLogger("gitwarden.watcher")

WATCH_MASK = Mask(C.IN_CREATE | C.IN_CLOSE_WRITE | C.IN_DELETE | C.IN_MOVED_FROM | C.IN_MOVED_TO
              | C.IN_MODIFY | C.IN_DELETE_SELF | C.IN_MOVE_SELF | C.IN_DONT_FOLLOW | C.IN_ONLYDIR
              | C.IN_EXCL_UNLINK)
_CALLBACK_ID = CallbackId(1)  # one callback (this adapter) per watch
# Files written and not closed yet, remembered for a fence; past this many, events are lost.
MAX_OPEN_WRITES = 4096

class DirectoryWatcher:
    """Per-directory inotify watches feeding a sink."""

    kind = "inotify"

    def __init__(self, sink: Callable[[FsEvent], None]) -> None:
        self._sink = sink
        self._fd: InotifyFD | None = None
        self._lock = threading.Lock()
        self._path_by_wd: dict[int, str] = {}
        self._wd_by_path: dict[str, int] = {}
        self._limit = watch_limit()
        self.overflows = 0  # times events were lost (queue overflows, open writes dropped)
        self._open_writes: set[str] = set()
        self._fence_lock = threading.Lock()
        self._fence: tuple[int, str] | None = None  # (wd, directory) of the cookie directory
        self._cookies: dict[str, threading.Event] = {}
        self._cookie_ids = itertools.count()

    def start(self) -> None:
        try:
            self._fd = InotifyFD()
        except OSError as exc:
            raise WatchLimitError(exc.errno, f"cannot create an inotify instance: {exc}") from exc
        self._fd.daemon = True
        self._fd.start()

    def stop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fd.stop()
            fd.join(timeout=2)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._wd_by_path)

    def watched(self) -> set[str]:
        with self._lock:
            return set(self._wd_by_path)

    def add(self, directory: str, *, tree: bool = True) -> bool:
        """Watch one directory; False when it vanished. Raises WatchLimitError at a limit.
        Every inotify watch is per directory: `tree` makes no difference here."""
        if self._fd is None:
            raise WatchLimitError(errno.EMFILE, "the watcher is not running")
        with self._lock:
            if directory in self._wd_by_path:
                return True
            if self._limit is not None and len(self._wd_by_path) >= self._limit:
                raise WatchLimitError(errno.ENOSPC, "inotify watch limit reached")
        try:
            wd = self._fd.add_callback(os.fsencode(directory), WATCH_MASK, self, _CALLBACK_ID)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EMFILE):
                raise WatchLimitError(exc.errno, str(exc)) from exc
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                return False
            raise
        with self._lock:
            old = self._path_by_wd.get(wd)
            if old is not None and old != directory:
                # Same inode under a new name (a moved directory): follow it.
                self._wd_by_path.pop(old, None)
            self._path_by_wd[wd] = directory
            self._wd_by_path[directory] = wd
        return True

    def remove_tree(self, root: str) -> int:
        """Stop watching `root` and every directory under it; returns how many."""
        prefix = root.rstrip(os.sep) + os.sep
        with self._lock:
            doomed = [(p, wd) for p, wd in self._wd_by_path.items()
                      if p == root or p.startswith(prefix)]
            for path, wd in doomed:
                self._wd_by_path.pop(path, None)
                self._path_by_wd.pop(wd, None)
        if self._fd is not None and doomed:
            self._fd.remove_callbacks([(WatchDescriptor(wd), _CALLBACK_ID) for _, wd in doomed])
        return len(doomed)

    def fence(self, directory: str, timeout: float) -> bool:
        """True once every event this instance had queued when called was handed to the sink;
        False when that could not be shown within `timeout` (or the watcher stopped).
        `directory` is the cookie directory: private, used for nothing else."""
        fd = self._fd
        if fd is None:
            return False
        try:
            with self._fence_lock:
                if self._fence is None or self._fence[1] != directory:
                    os.makedirs(directory, mode=0o700, exist_ok=True)
                    for stale in os.listdir(directory):  # a killed daemon's cookies
                        with contextlib.suppress(OSError):
                            os.unlink(os.path.join(directory, stale))
                    wd = fd.add_callback(os.fsencode(directory), Mask(C.IN_CREATE), self,
                                         _CALLBACK_ID)
                    self._fence = (int(wd), directory)
        except OSError as exc:
            log.warning("cannot watch the cookie directory %s: %s", directory, exc)
            return False
        name = f"cookie-{os.getpid()}-{next(self._cookie_ids)}"
        arrived = threading.Event()
        with self._lock:
            self._cookies[name] = arrived
        path = os.path.join(directory, name)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return arrived.wait(timeout)
        except OSError:
            return False
        finally:
            with self._lock:
                self._cookies.pop(name, None)
            with contextlib.suppress(OSError):
                os.unlink(path)

    def open_writes(self) -> set[str]:
        """Files written and not closed since (absolute paths; gone ones forgotten)."""
        with self._lock:
            gone = {path for path in self._open_writes if not os.path.lexists(path)}
            self._open_writes -= gone
            return set(self._open_writes)

    # --- watchdog WatchCallback protocol (runs on watchdog's reader thread) -------------------

    def on_event(self, event: InotifyEvent) -> None:
        fence = self._fence
        if fence is not None and event.wd == fence[0]:
            if event.mask & C.IN_CREATE:
                with self._lock:
                    arrived = self._cookies.get(os.fsdecode(event.name))
                if arrived is not None:
                    arrived.set()
            return
        with self._lock:
            directory = self._path_by_wd.get(event.wd)
        if directory is None:
            return
        mask = event.mask
        if mask & (C.IN_DELETE_SELF | C.IN_MOVE_SELF):
            return  # the parent directory's watch reports it by name
        name = os.fsdecode(event.name)
        if not name:
            return
        is_dir = bool(mask & C.IN_ISDIR)
        path = os.path.join(directory, name)
        if mask & C.IN_MODIFY:
            if not is_dir:
                self._written(path)
            return
        if mask & (C.IN_CLOSE_WRITE | C.IN_DELETE | C.IN_MOVED_FROM) and not is_dir:
            with self._lock:
                self._open_writes.discard(path)
        if mask & C.IN_CREATE:
            kind = "create"
        elif mask & C.IN_CLOSE_WRITE:
            kind = "write"
        elif mask & C.IN_DELETE:
            kind = "delete"
        elif mask & C.IN_MOVED_FROM:
            kind = "move-from"
        elif mask & C.IN_MOVED_TO:
            kind = "move-to"
        else:
            return
        self._sink(FsEvent(path=path, kind=kind, is_dir=is_dir))

    def _written(self, path: str) -> None:
        with self._lock:
            if path in self._open_writes:
                return
            if len(self._open_writes) >= MAX_OPEN_WRITES:
                self.overflows += 1  # this one is not remembered: a fence caller scans
                return
            self._open_writes.add(path)

    def on_watch_deleted(self, wd: int) -> None:
        fence = self._fence
        if fence is not None and fence[0] == wd:
            self._fence = None  # the cookie directory went away: the next fence watches anew
            return
        with self._lock:
            path = self._path_by_wd.pop(wd, None)
            if path is not None and self._wd_by_path.get(path) == wd:
                del self._wd_by_path[path]

    def on_queue_overflow(self) -> None:
        log.warning("inotify queue overflowed; a reconcile will repair the missed events")
        self.overflows += 1
        self._sink(OVERFLOW)
