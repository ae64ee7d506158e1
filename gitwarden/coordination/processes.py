"""Process identity on Linux: a pid plus its start time, so a reused pid is not mistaken."""

from __future__ import annotations

import os
import signal


def _stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from field 3 on, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rfind(b")") + 2:].split()


def process_start_time(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot (/proc/PID/stat field 22), or None."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields is not None else None
    except (IndexError, ValueError):
        return None


def process_state(pid: int) -> str | None:
    """The one-letter scheduler state of `pid` (R, S, T, Z, ...), or None if it is gone."""
    fields = _stat_fields(pid)
    return fields[0].decode() if fields else None


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
    if start_time is not None and current != start_time:
        return False
    return process_state(pid) != "Z"


def signal_group(pgid: int, leader_start: int | None, signum: signal.Signals) -> bool:
    """Send `signum` to a process group if its leader is still the same process."""
    if not is_alive(pgid, leader_start):
        return False
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True
