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
    A first event for which `leading` says yes is a batch on its own, taken at once: the
    debounce coalesces only what follows it (the leading edge)."""
    batch: list[FsEvent | Command] = [items.get()]
    if leading is not None and isinstance(batch[0], FsEvent) and leading(batch[0]):
        return batch
    deadline = time.monotonic() + MAX_BATCH_DELAY
    while len(batch) < MAX_BATCH_EVENTS:
        if isinstance(batch[-1], Command):
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
    """A file event on a path another agent has changed: an overlap may open (or its
    prediction change) now, so it is handled at once rather than after the debounce."""
    if event.is_dir or event.kind == "overflow":
        return False
    name = agent_of(roots, event.path)
    if name is None:
        return False
    rel = os.path.relpath(event.path, roots[name]).replace(os.sep, "/")
    return changed_by_other(name, rel)
