"""The pipeline's queue: file events and commands, taken in debounced batches."""

from __future__ import annotations

import queue
import threading
import time
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


def collect_batch(items: queue.Queue[FsEvent | Command],
                  debounce: float) -> list[FsEvent | Command]:
    """Block for the next item, then take what follows within `debounce` of the previous one
    (at most MAX_BATCH_DELAY in all); a command ends the batch so it is answered promptly."""
    batch: list[FsEvent | Command] = [items.get()]
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
