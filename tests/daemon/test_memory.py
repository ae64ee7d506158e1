"""The daemon's memory bounds, read from a real daemon process: libgit2's limits as the
daemon set them at start, and the maps its `status` reply counts."""

from __future__ import annotations

from pathlib import Path

import pygit2

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
