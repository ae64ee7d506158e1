"""The daemon's memory bounds, read from a real daemon process: libgit2's limits as the
daemon set them at start, and the maps its `status` reply counts."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from gitwarden.daemon import memory
from gitwarden.git.objects import (
    LIBGIT2_CACHE_BYTES,
    LIBGIT2_MAPPED_BYTES,
    LIBGIT2_OPEN_PACKS,
    LIBGIT2_WINDOW_BYTES,
)
from tests.helpers.daemon_state import BASE, FAST
from tests.helpers.daemonproc import DaemonProcess
from tests.helpers.gitrepo import make_repo_with_agents, write


def test_the_daemon_bounds_libgit2s_caches_and_pack_windows(tmp_path: Path) -> None:
    # libgit2's own defaults, in this (test) process, which never bounded them
    defaults = (pygit2.settings.cached_memory[1], pygit2.settings.mwindow_size,
                pygit2.settings.mwindow_mapped_limit)
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    try:
        memory = daemon.request("status")["memory"]
    finally:
        assert daemon.stop() == 0
    assert (memory["libgit2_cache_limit"], memory["libgit2_window_bytes"],
            memory["libgit2_mapped_limit"], memory["libgit2_open_packs_limit"]) == \
        (LIBGIT2_CACHE_BYTES, LIBGIT2_WINDOW_BYTES, LIBGIT2_MAPPED_BYTES, LIBGIT2_OPEN_PACKS)
    # one window is a fraction of what may be mapped, so that the limit can unmap windows
    assert memory["libgit2_window_bytes"] * 2 <= memory["libgit2_mapped_limit"]
    assert all(bound < default for bound, default in zip(
        (memory["libgit2_cache_limit"], memory["libgit2_window_bytes"],
         memory["libgit2_mapped_limit"]), defaults, strict=True))


def test_malloc_figures_are_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """glibc's malloc_info walks every arena: the pipeline's snapshot, rebuilt several times
    a second, does not hold its figures; each status reply reads them then."""
    reads: list[int] = []
    monkeypatch.setattr(memory, "heap_sizes", lambda: {"malloc_in_use": len(reads.append(1)
                                                                             or reads)})
    stored = {"agents": [], "memory": {"agents": 2}}
    assert memory.with_heap_sizes(stored)["memory"] == {"agents": 2, "malloc_in_use": 1}
    assert memory.with_heap_sizes(stored)["memory"]["malloc_in_use"] == 2
    assert stored == {"agents": [], "memory": {"agents": 2}}
    assert memory.with_heap_sizes({"agents": []}) == {"agents": []} and len(reads) == 2
