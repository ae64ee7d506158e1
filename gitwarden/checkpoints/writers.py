"""Files of a worktree that an agent's processes hold open for writing.

A paused (SIGSTOPped) process may have been stopped between opening a file and writing to
it. If a rollback then replaced or deleted that file, the process would go on writing into
a file that no longer has a name: its lines would be lost. A transaction therefore lets such
a process run on for a moment and pauses it again until it holds no file of the worktree open
(or refuses). Linux only (/proc); elsewhere nothing is found.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR


def group_members(pgids: Iterable[int]) -> list[int]:
    """Every process whose process group is one of `pgids`."""
    wanted = set(pgids)
    if not wanted or not os.path.isdir("/proc"):
        return []
    members: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "stat"), "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) in wanted:
            members.append(int(entry.name))
    return members


def open_for_writing(pids: Iterable[int], root: Path) -> dict[str, int]:
    """{path relative to root: pid} for files under `root` open for writing by `pids`."""
    prefix = os.path.realpath(root) + os.sep
    found: dict[str, int] = {}
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if not target.startswith(prefix):
                continue
            if _flags(pid, fd) & _WRITE_FLAGS:
                rel = target[len(prefix):].removesuffix(" (deleted)").replace(os.sep, "/")
                found[rel] = pid
    return found


def _flags(pid: int, fd: str) -> int:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0
