"""libgit2's limits as gitwarden sets them in the daemon: however big the packs it reads, the
pack windows it keeps mapped (which count in its resident memory) stay under the limit.
Measured in a fresh Python process each (libgit2's settings are per process), from the
kernel's own count of the resident pages of each mapping (/proc/self/smaps). And looking up
paths missing from a tree keeps no memory (pygit2 keeps a reference to each missing path it
was asked about), measured by tracemalloc."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pygit2

from gitwarden.git.objects import LIBGIT2_MAPPED_BYTES, LIBGIT2_WINDOW_BYTES, tree_entry
from tests.helpers.gitrepo import commit_all, git, make_repo

BLOBS = 24
BLOB_BYTES = 1024 * 1024  # random: a pack of 24 MiB, three times the mapped limit

READ_EVERY_BLOB = """
import sys
from pathlib import Path
import pygit2
from gitwarden.git.objects import bound_libgit2_memory
if sys.argv[2] == "bound":
    bound_libgit2_memory()
repo = pygit2.Repository(sys.argv[1])
tree = repo[repo.head.target].peel(pygit2.Tree)
for _round in range(2):
    for entry in tree:
        assert len(repo[entry.id].read_raw()) > 0
pack_kb = 0
name = ""
for line in Path("/proc/self/smaps").read_text().splitlines():
    fields = line.split()
    if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
        name = fields[5] if len(fields) > 5 else ""
    elif fields[0] == "Rss:" and name.endswith(".pack"):
        pack_kb += int(fields[1])
print(pack_kb)
"""


def _pack_resident_kb(repo: Path, mode: str) -> int:
    proc = subprocess.run([sys.executable, "-c", READ_EVERY_BLOB, str(repo), mode],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout.split()[-1])


def test_the_pack_windows_the_daemon_keeps_mapped_stay_under_its_limit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, files={"README.md": "big blobs\n"})
    for index in range(BLOBS):
        (repo / f"blob{index}.bin").write_bytes(os.urandom(BLOB_BYTES))
    commit_all(repo, "big blobs")
    git(repo, "repack", "-a", "-d", "-q")
    unbound = _pack_resident_kb(repo, "defaults")
    bound = _pack_resident_kb(repo, "bound")
    assert unbound >= BLOBS * BLOB_BYTES // 1024 * 9 // 10  # libgit2's own: all of the pack
    assert bound <= (LIBGIT2_MAPPED_BYTES + LIBGIT2_WINDOW_BYTES) // 1024 <= 9 * 1024
    assert bound > 0


def _retained_bytes(lookup: object, tree: pygit2.Tree, rounds: int) -> int:
    assert callable(lookup)
    for index in range(100):  # warm up: caches of the interpreter and pygit2
        lookup(tree, f"src/dir{index % 50}/.gitattributes")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(rounds):  # a fresh string each time, as the daemon builds them
            lookup(tree, f"src/dir{index % 50}/.gitattributes")
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def _pygit2_in(tree: pygit2.Tree, path: str) -> bool:
    return path in tree


def test_looking_up_missing_paths_keeps_no_memory(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, files={"README.md": "hello\n", "src/app.py": "x = 1\n"})
    tree = pygit2.Repository(str(repo)).head.peel(pygit2.Tree)
    assert tree_entry(tree, "src/app.py") is not None
    assert tree_entry(tree, "src/missing.py") is None
    assert tree_entry(tree, "missing/deeper/file") is None
    rounds = 20_000
    assert _retained_bytes(_pygit2_in, tree, rounds) >= rounds * 40  # pygit2's own: leaks
    assert _retained_bytes(tree_entry, tree, rounds) < 64 * 1024  # 50 paths, kept once each
