"""git's lock files left behind by killed processes: `index.lock`, `HEAD.lock`,
`packed-refs.lock` and ref locks, in the main git dir and every worktree's (the scratch
worktrees of health checks included).

A lock file is stale only when it is older than a minute AND no live process has it open
(a git command holds its lock file open while it works). Removing one is a user's decision
(`gitwarden doctor --fix`), except for locks of gitwarden's own refs (refs/gitwarden/), which
the daemon clears itself.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

STALE_AFTER = 60.0
_TOP_LOCKS = ("index.lock", "HEAD.lock", "packed-refs.lock", "config.lock")
OWN_REFS = Path("refs") / "gitwarden"


@dataclass(frozen=True)
class LockFile:
    path: Path
    age: float  # seconds since it was last written
    holders: tuple[int, ...]  # pids that have it open

    @property
    def stale(self) -> bool:
        return self.age >= STALE_AFTER and not self.holders


def lock_files(common_dir: Path, *, own_refs_only: bool = False) -> list[Path]:
    """The lock files present now; with `own_refs_only`, only those under refs/gitwarden/."""
    found = list(_ref_locks(common_dir / OWN_REFS))
    if own_refs_only:
        return found
    dirs = [common_dir]
    with contextlib.suppress(OSError):
        dirs += [Path(e.path) for e in os.scandir(common_dir / "worktrees") if e.is_dir()]
    for directory in dirs:
        found += [directory / name for name in _TOP_LOCKS if (directory / name).is_file()]
    found += [p for p in _ref_locks(common_dir / "refs") if not _under(p, common_dir / OWN_REFS)]
    return sorted(set(found))


def inspect(paths: Iterable[Path], now: float | None = None) -> list[LockFile]:
    """Age and holders of each lock file that still exists."""
    moment = time.time() if now is None else now
    ages: dict[Path, float] = {}
    for path in paths:
        with contextlib.suppress(OSError):
            ages[path] = moment - path.stat().st_mtime
    if not ages:
        return []
    # Only locks old enough to be stale are worth a scan of every process's open files.
    held = holders([p for p, age in ages.items() if age >= STALE_AFTER])
    return [LockFile(path, age, tuple(held.get(path, ()))) for path, age in ages.items()]


def stale_lock_files(common_dir: Path, *, own_refs_only: bool = False,
                     now: float | None = None) -> list[LockFile]:
    return [lock for lock in inspect(lock_files(common_dir, own_refs_only=own_refs_only), now)
            if lock.stale]


def remove(locks: Iterable[LockFile]) -> list[Path]:
    """Delete the given stale lock files (checked again just before); returns those removed."""
    removed = []
    for lock in locks:
        (again,) = inspect([lock.path]) or (None,)
        if again is None or not again.stale:
            continue
        with contextlib.suppress(FileNotFoundError):
            lock.path.unlink()
            removed.append(lock.path)
    return removed


def holders(paths: Iterable[Path]) -> dict[Path, list[int]]:
    """Which processes (of this user; all of them for root) have each path open."""
    import psutil  # costs ~15 ms: only when there is a lock file to ask about

    wanted: dict[tuple[int, int], Path] = {}
    for path in paths:
        with contextlib.suppress(OSError):
            st = path.stat()
            wanted[(st.st_dev, st.st_ino)] = path
    result: dict[Path, list[int]] = {}
    if not wanted:
        return result
    for process in psutil.process_iter():
        try:
            handles = [h.path for h in process.open_files() if h.path.endswith(".lock")]
        except (psutil.Error, OSError):
            continue
        for handle in handles:  # by inode: the same file under another name is the same lock
            try:
                st = os.stat(handle)
            except OSError:
                continue
            match = wanted.get((st.st_dev, st.st_ino))
            if match is not None:
                result.setdefault(match, []).append(process.pid)
    return result


def _ref_locks(root: Path) -> Iterable[Path]:
    for directory, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".lock"):
                yield Path(directory) / name


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
