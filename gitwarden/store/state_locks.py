"""Exclusive locks on files in the state dir's `locks/` folder, waited for with a deadline.

The lock is an flock on an owner-only file: the kernel releases it when the holder (and every
child it handed the descriptor to) has exited, so a killed gitwarden never leaves it held.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def state_lock(state_dir: Path, name: str, *, wait: float, busy: Callable[[], Exception],
               poll: float = 0.02) -> Iterator[int]:
    """Hold `<state dir>/locks/<name>.lock`; yields its descriptor. Raises `busy()` when it
    is still held by someone else after `wait` seconds."""
    locks = state_dir / "locks"
    locks.mkdir(exist_ok=True)
    fd = os.open(locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise busy() from None
                time.sleep(poll)
        yield fd
    finally:
        os.close(fd)
