"""Keeping the object store tidy: loose objects rolled into packs, small packs merged.

`git repack -d --geometric=2` packs every loose object and merges the small packs so that
pack sizes form a geometric progression (so each object is rewritten O(log n) times, and the
cost follows what is new rather than the size of the repository). `-d` then deletes only
packs whose objects are all in the new pack, and loose objects that are now packed (`git
prune-packed`). It never walks refs and never drops an object, reachable or not, so nothing
any ref, reflog, index or worktree HEAD needs can go; unreachable objects are left to git's
own `gc` with its safe expiry. It runs at the lowest CPU and I/O priority, never twice at once
(a lock file), and not while git's own gc runs (its gc.pid).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gitwarden.errors import GitError
from gitwarden.git.runner import run_git

GC_PID_FRESH = 12 * 3600.0  # what git itself treats as a live gc.pid
LOCK_NAME = "repack.lock"
# Incremental checkpoints write one small pack each (git.object_batch): past this many packs
# they are merged, well before git's gc.autoPackLimit (50) makes every agent commit run gc.
MAX_PACKS = 16


@dataclass(frozen=True)
class ObjectCounts:
    """`git count-objects -v`: loose objects (count, KiB), packs and packed objects."""

    loose: int
    loose_kib: int
    packs: int
    packed: int
    pack_kib: int
    prune_packable: int
    garbage: int

    def as_json(self) -> dict[str, int]:
        return {"loose": self.loose, "loose_kib": self.loose_kib, "packs": self.packs,
                "packed": self.packed, "pack_kib": self.pack_kib,
                "prune_packable": self.prune_packable, "garbage": self.garbage}


def count_objects(common_dir: Path) -> ObjectCounts:
    out = run_git(["count-objects", "-v"], common_dir).stdout.decode("utf-8", "replace")
    values: dict[str, int] = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        with contextlib.suppress(ValueError):
            values[key.strip()] = int(value.strip())
    return ObjectCounts(loose=values.get("count", 0), loose_kib=values.get("size", 0),
                        packs=values.get("packs", 0), packed=values.get("in-pack", 0),
                        pack_kib=values.get("size-pack", 0),
                        prune_packable=values.get("prune-packable", 0),
                        garbage=values.get("garbage", 0))


RepackStatus = Literal["repacked", "would-repack", "not-needed", "busy"]


@dataclass(frozen=True)
class RepackResult:
    status: RepackStatus
    before: ObjectCounts
    after: ObjectCounts | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "reason": self.reason, "before": self.before.as_json(),
                "after": self.after.as_json() if self.after else None}


def repack_incremental(common_dir: Path, lock_dir: Path, *, min_loose: int = 0,
                       max_packs: int = MAX_PACKS, dry_run: bool = False) -> RepackResult:
    """Pack loose objects and merge small packs when at least `min_loose` objects are loose
    or there are more than `max_packs` packs.

    Returns "busy" (another repack or git's gc holds the repository) without waiting."""
    before = count_objects(common_dir)
    if before.loose < max(min_loose, 1) and before.prune_packable == 0 \
            and before.packs <= max_packs:
        return RepackResult("not-needed", before,
                            reason=f"{before.loose} loose object(s), fewer than {min_loose}; "
                                   f"{before.packs} pack(s)")
    if _gc_running(common_dir):
        return RepackResult("busy", before, reason="git gc is running")
    if dry_run:
        return RepackResult("would-repack", before)
    with _exclusive(lock_dir / LOCK_NAME) as held:
        if not held:
            return RepackResult("busy", before, reason="another repack is running")
        base = ["-c", "repack.writeBitmaps=false", "-c", "gc.auto=0", "repack", "-d", "-q"]
        proc = run_git([*base, "--geometric=2"], common_dir, low_priority=True, check=False)
        if proc.returncode != 0 and b"geometric" in proc.stderr:
            # git before 2.32: pack the loose objects into one more pack, merging none
            proc = run_git(base, common_dir, low_priority=True, check=False)
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["?"]
            raise GitError(f"git repack failed in {common_dir}: {lines[-1]}")
    return RepackResult("repacked", before, count_objects(common_dir))


def _gc_running(common_dir: Path) -> bool:
    try:
        return time.time() - (common_dir / "gc.pid").stat().st_mtime < GC_PID_FRESH
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """flock `path` without waiting: yields whether this process now holds it."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
