"""gitwarden's own writes into agent worktrees (rollback, undo, revert), journaled for a short
while so that the daemon never attributes them to the agent: no activity, no violation.

A writer notes each write before and after it happens; the daemon ignores file events of
noted paths (or of a whole worktree, noted as `*`) for TTL seconds after the last note. One
JSON array per line in `<state dir>/own-writes.journal`, appended under an flock; the file is
compacted (old lines dropped) when it grows.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

JOURNAL = "own-writes.journal"
TTL = 30.0
WHOLE_WORKTREE = "*"
_COMPACT_AT = 64 * 1024


def note_own_writes(state_dir: Path, worktree: Path | str,
                    paths: Iterable[str] | None = None, *, now: float | None = None) -> None:
    """Note that gitwarden writes `paths` (repository-relative; None: anything) of the
    worktree now."""
    when = time.time() if now is None else now
    root = os.path.realpath(worktree)
    names = [WHOLE_WORKTREE] if paths is None else list(paths)
    lines = "".join(json.dumps([when, root, name], ensure_ascii=True) + "\n" for name in names)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = state_dir / JOURNAL
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size > _COMPACT_AT:
            _compact(path, fd, when)
        os.write(fd, lines.encode("ascii"))
    finally:
        os.close(fd)


@contextlib.contextmanager
def own_writes(state_dir: Path, worktree: Path | str,
               paths: Iterable[str] | None = None) -> Iterator[None]:
    """Notes before and after the writes made inside the block."""
    names = None if paths is None else list(paths)
    note_own_writes(state_dir, worktree, names)
    try:
        yield
    finally:
        note_own_writes(state_dir, worktree, names)


class OwnWrites:
    """The recent notes: which (worktree, path) file events are gitwarden's own."""

    def __init__(self, entries: dict[str, set[str]]) -> None:
        self.entries = entries

    def covers(self, worktree: Path | str, path: str) -> bool:
        names = self.entries.get(os.path.realpath(worktree))
        if not names:
            return False
        return WHOLE_WORKTREE in names or path in names or \
            any(path.startswith(name.rstrip("/") + "/") for name in names)


def recent_own_writes(state_dir: Path, now: float | None = None) -> OwnWrites:
    when = time.time() if now is None else now
    entries: dict[str, set[str]] = {}
    try:
        data = (state_dir / JOURNAL).read_text(encoding="ascii", errors="replace")
    except OSError:
        return OwnWrites(entries)
    for line in data.splitlines():
        try:
            stamp, root, name = json.loads(line)
        except (ValueError, TypeError):
            continue
        if isinstance(stamp, int | float) and when - float(stamp) <= TTL:
            entries.setdefault(str(root), set()).add(str(name))
    return OwnWrites(entries)


def _compact(path: Path, fd: int, now: float) -> None:
    kept = []
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        with contextlib.suppress(ValueError, TypeError, IndexError):
            if now - float(json.loads(line)[0]) <= TTL:
                kept.append(line + "\n")
    os.ftruncate(fd, 0)
    os.write(fd, "".join(kept).encode("ascii"))
