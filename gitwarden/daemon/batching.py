"""The pipeline's queue: file events and commands, taken in debounced batches."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gitwarden.daemon.watcher import FsEvent

MAX_BATCH_DELAY = 1.0
MAX_BATCH_EVENTS = 200_000
MAX_BURSTS = 4096  # paths remembered as in a burst (the oldest go first)
# Events after which a file's content is complete: a created file is still empty (its write
# follows), a file only modified may be half written.
_COMPLETE = ("write", "move-to")


@dataclass
class Command:
    """A request for the pipeline thread; `done` is set once it was handled."""

    name: str
    arg: Any = None
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None


def collect_batch(items: queue.Queue[FsEvent | Command], debounce: float,
                  leading: Callable[[FsEvent], bool] | None = None) -> list[FsEvent | Command]:
    """Block for the next item, then take what follows within `debounce` of the previous one
    (at most MAX_BATCH_DELAY in all); a command ends the batch so it is answered promptly.
    An event for which `leading` says yes ends the batch too, taken at once with what came
    before it: the debounce coalesces only what follows it (the leading edge)."""
    batch: list[FsEvent | Command] = [items.get()]
    deadline = time.monotonic() + MAX_BATCH_DELAY
    while len(batch) < MAX_BATCH_EVENTS:
        last = batch[-1]
        if isinstance(last, Command) or (leading is not None and leading(last)):
            break
        wait = min(debounce, deadline - time.monotonic())
        if wait <= 0:
            break
        try:
            batch.append(items.get(timeout=wait))
        except queue.Empty:
            break
    return batch


def answer_until_stop(items: queue.Queue[FsEvent | Command]) -> None:
    """For a pipeline that could not start: answer every command, so that nobody waits
    forever, until asked to stop."""
    while True:
        item = items.get()
        if isinstance(item, Command):
            item.done.set()
            if item.name == "stop":
                return


def agent_of(roots: dict[str, str], path: str) -> str | None:
    """The agent whose worktree root (the longest one) holds `path`."""
    best: tuple[int, str] | None = None
    for name, root in roots.items():
        if path.startswith(root + os.sep) and (best is None or len(root) > best[0]):
            best = (len(root), name)
    return best[1] if best else None


def on_leading_edge(event: FsEvent, roots: dict[str, str],
                    changed_by_other: Callable[[str, str], bool]) -> bool:
    """A file event, after which the file's content is complete, on a path another agent has
    changed: an overlap may open (or its prediction change) now, so it is handled at once
    rather than after the debounce."""
    if event.is_dir or event.kind not in _COMPLETE:
        return False
    name = agent_of(roots, event.path)
    if name is None:
        return False
    rel = os.path.relpath(event.path, roots[name]).replace(os.sep, "/")
    return changed_by_other(name, rel)


class Bursts:
    """The paths in a burst: an event on a path that had one less than `debounce` before.
    Only the first event of a burst is a leading edge; the rest are coalesced. Bounded: at
    most MAX_BURSTS paths, the oldest forgotten first (then merely taken as leading again), and
    a path whose burst is over (no event for `debounce`) is forgotten with the next event: its
    next event leads either way, so the map holds only the paths of bursts still going."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}  # path -> time of its last event, oldest first

    def first_of_burst(self, path: str, now: float, debounce: float) -> bool:
        previous = self._last.pop(path, None)
        self._last[path] = now
        while len(self._last) > MAX_BURSTS:
            del self._last[next(iter(self._last))]
        over = []
        for oldest, last in self._last.items():  # oldest first: stop at a burst still going
            if now - last < debounce:
                break
            over.append(oldest)
        for gone in over:
            del self._last[gone]
        return previous is None or now - previous >= debounce

    def __len__(self) -> int:
        return len(self._last)
