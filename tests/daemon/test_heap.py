"""The daemon's C heap: freed memory goes back to the kernel (malloc_trim, measured in this
process's own resident memory), and a real daemon keeps glibc's malloc arenas at the cap it
sets before its threads start (counted from glibc's own malloc_info report)."""

from __future__ import annotations

import ctypes
import gc
import threading
from pathlib import Path

import pygit2
import pytest

from gitwarden.daemon.heap import ARENAS, heap_sizes, release_memory, trim
from tests.helpers.daemon_state import BASE, FAST
from tests.helpers.daemonproc import DaemonProcess
from tests.helpers.gitrepo import commit_all, git, make_repo, make_repo_with_agents, write

glibc = pytest.mark.skipif(not heap_sizes(), reason="glibc's malloc only (Linux CI has it)")

BLOCK = 2000
BLOCKS = 20_000  # 40 MB
KEEP_EVERY = 200  # one block in 200 stays: no page at the arena's top is ever free


def _anonymous_kb() -> int:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1])
    raise AssertionError("no Anonymous line in smaps_rollup")


@glibc
def test_trim_gives_memory_freed_inside_an_arena_back_to_the_kernel() -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    kept: list[int] = []

    def churn() -> None:  # in a thread: an arena other than the main one, as in the daemon
        blocks = [libc.malloc(ctypes.c_size_t(BLOCK)) for _ in range(BLOCKS)]
        for block in blocks:
            ctypes.memset(block, 1, BLOCK)
        for index, block in enumerate(blocks):
            if index % KEEP_EVERY == KEEP_EVERY - 1:
                kept.append(block)
            else:
                libc.free(ctypes.c_void_p(block))

    worker = threading.Thread(target=churn)
    worker.start()
    worker.join()
    try:
        before = _anonymous_kb()
        assert heap_sizes()["malloc_free"] >= BLOCK * BLOCKS // 2  # freed, yet still held
        assert trim()
        after = _anonymous_kb()
    finally:
        for block in kept:
            libc.free(ctypes.c_void_p(block))
    assert before - after >= BLOCK * BLOCKS // 1024 // 2


@glibc
def test_the_daemon_keeps_its_malloc_arenas_at_the_cap(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    try:
        for name in ("alpha", "beta", "gamma"):  # work for its threads: watcher, jobs, checks
            write(repo.agents[name], {"f.txt": BASE + f"{name}\n"})
        daemon.request("reconcile")
        daemon.request("checkpoint")
        memory = daemon.request("status")["memory"]
        threads = len(list(Path(f"/proc/{daemon.proc.pid}/task").iterdir()))
    finally:
        assert daemon.stop() == 0
    assert threads > ARENAS + 2  # without the cap, glibc gives each new thread an arena
    assert 1 <= memory["malloc_arenas"] <= ARENAS
    assert memory["malloc_in_use"] > 0


def _stale_pack_maps(pack_dir: Path) -> list[str]:
    with open("/proc/self/maps") as maps:
        return [line for line in maps if str(pack_dir) in line and "(deleted)" in line]


def test_releasing_memory_unmaps_the_packs_of_repositories_no_longer_used(
        tmp_path: Path) -> None:
    repo = make_repo(tmp_path, files={"f.txt": BASE})
    git(repo, "repack", "-a", "-d", "-q")
    pack_dir = repo / ".git" / "objects" / "pack"
    gc.disable()  # as between two of Python's own (rare) full collections
    try:
        used = pygit2.Repository(str(repo))
        assert used[used.head.target].peel(pygit2.Tree)["f.txt"].data
        del used  # garbage, but in reference cycles: its packs stay mapped
        write(repo, {"g.txt": "more\n"})
        commit_all(repo, "more")
        git(repo, "repack", "-a", "-d", "-q")  # the pack it mapped is deleted
        assert _stale_pack_maps(pack_dir)
        release_memory()
        assert _stale_pack_maps(pack_dir) == []
    finally:
        gc.enable()
