"""Files of a worktree that an agent's processes hold open for writing.

A paused (SIGSTOPped) process may have been stopped between opening a file and writing to
it. If a rollback then replaced or deleted that file, the process would go on writing into
a file that no longer has a name: its lines would be lost. A transaction therefore lets such
a process run on for a moment and pauses it again until it holds no file of the worktree open
(or refuses). Process facts come from psutil; where the platform does not say how a file was
opened (psutil gives the mode on Linux only), nothing is found and the pause alone protects.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import psutil

_WRITE_MODES = ("w", "a", "r+", "w+", "a+")


def group_members(pgids: Iterable[int]) -> list[int]:
    """Every process whose process group is one of `pgids`."""
    wanted = set(pgids)
    if not wanted:
        return []
    members: list[int] = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) in wanted:
                members.append(pid)
        except OSError:
            continue
    return members


def open_for_writing(pids: Iterable[int], root: Path) -> dict[str, int]:
    """{path relative to root: pid} for files under `root` open for writing by `pids`."""
    prefix = os.path.realpath(root) + os.sep
    found: dict[str, int] = {}
    for pid in pids:
        try:
            files = psutil.Process(pid).open_files()
        except (psutil.Error, OSError):
            continue
        for handle in files:
            path = handle.path.removesuffix(" (deleted)")
            mode = getattr(handle, "mode", "")
            if path.startswith(prefix) and mode in _WRITE_MODES:
                found[path[len(prefix):].replace(os.sep, "/")] = pid
    return found
