"""What every file watcher gives the pipeline: FsEvent values handed to a sink, one watch per
directory it is asked for, and WatchLimitError when the platform refuses another watch.

Three implementations, chosen in watcher_choice.py: inotify (the Linux fast path), watchdog's
platform observer (FSEvents on macOS, kqueue on BSD) and polling (no watches: the daemon
re-reads each agent's status every few seconds). Sinks must only enqueue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

# Test and tuning hook: pretend the platform's watch limit is this many watches.
WATCH_LIMIT_ENV = "GITWARDEN_WATCH_LIMIT"


@dataclass(frozen=True)
class FsEvent:
    """One file-system change: kind is create, write, delete, move-from, move-to or overflow."""

    path: str
    kind: str
    is_dir: bool = False


OVERFLOW = FsEvent(path="", kind="overflow")


class WatchLimitError(OSError):
    """The platform refused another watch (ENOSPC: max_user_watches; EMFILE: instances or
    open files)."""


def watch_limit() -> int | None:
    limit = os.environ.get(WATCH_LIMIT_ENV)
    return int(limit) if limit and limit.isdigit() else None


class Watcher(Protocol):
    """Directory watches feeding a sink; `kind` names the mechanism (inotify, observer name,
    polling) for the status and the log."""

    kind: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def count(self) -> int: ...

    def watched(self) -> set[str]: ...

    def add(self, directory: str, *, tree: bool = True) -> bool: ...

    def remove_tree(self, root: str) -> int: ...


class PollingWatcher:
    """No watches at all: every agent is polled (GITWARDEN_WATCHER=polling, or no native
    watcher on this platform)."""

    kind = "polling"

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    @property
    def count(self) -> int:
        return 0

    def watched(self) -> set[str]:
        return set()

    def add(self, directory: str, *, tree: bool = True) -> bool:
        return True

    def remove_tree(self, root: str) -> int:
        return 0
