"""libgit2's limits as gitwarden sets them in the daemon: however big the packs it reads, the
pack windows it keeps mapped (which count in its resident memory) stay under the limit.
Measured in a fresh Python process each (libgit2's settings are per process), from the
kernel's own count of the resident pages of each mapping (/proc/self/smaps)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gitwarden.git.objects import LIBGIT2_MAPPED_BYTES, LIBGIT2_WINDOW_BYTES
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
