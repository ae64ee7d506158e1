"""Process identity: a pid plus its start time, so a reused pid is not mistaken.

Through psutil, on Linux and macOS alike (nothing here reads the proc file system): the start
time is the process's creation time in hundredths of a second since the epoch, stable for its
lifetime. psutil is imported inside the functions: the commit guard (a hot path) imports this
module through the lock rules, and psutil costs about 15 ms to import.
"""

from __future__ import annotations

import os
import signal

# ps(1)'s one-letter states, the same on Linux and macOS, by psutil status name.
_LETTERS = {"running": "R", "sleeping": "S", "disk-sleep": "D", "stopped": "T",
            "tracing-stop": "t", "zombie": "Z", "dead": "X", "idle": "I", "waking": "W",
            "locked": "L", "waiting": "W", "parked": "P"}


def process_start_time(pid: int) -> int | None:
    """When `pid` started, in hundredths of a second since the epoch, or None if it is gone."""
    import psutil  # lazy: see the module docstring

    try:
        created: float = psutil.Process(pid).create_time()
        return round(created * 100)
    except (psutil.Error, ValueError):
        return None


def process_state(pid: int) -> str | None:
    """The one-letter state of `pid` as ps shows it (R, S, T, Z, ...), or None if it is gone."""
    import psutil  # lazy: see the module docstring

    try:
        status = psutil.Process(pid).status()
    except (psutil.Error, ValueError):
        return None
    return _LETTERS.get(str(status), "?")


def is_alive(pid: int, start_time: int | None) -> bool:
    """Whether the process that had `start_time` still runs as `pid` (zombies count as dead)."""
    if pid <= 0:
        return False
    current = process_start_time(pid)
    if current is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return start_time is None
    if start_time is not None and current != start_time and \
            not _same_legacy_start(pid, start_time):
        return False
    return process_state(pid) != "Z"


# Start times recorded before psutil were clock ticks since boot: far below any time in
# hundredths of a second since the epoch. Compared within a tick either way.
_LEGACY_BELOW = 10**10


def _same_legacy_start(pid: int, start_time: int) -> bool:
    import psutil  # lazy: see the module docstring

    if start_time >= _LEGACY_BELOW:
        return False
    try:
        since_boot: float = psutil.Process(pid).create_time() - psutil.boot_time()
    except (psutil.Error, ValueError):
        return False
    return abs(since_boot * os.sysconf("SC_CLK_TCK") - start_time) <= 2


def signal_group(pgid: int, leader_start: int | None, signum: signal.Signals) -> bool:
    """Send `signum` to a process group if its leader is still the same process."""
    if not is_alive(pgid, leader_start):
        return False
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True
