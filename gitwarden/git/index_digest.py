"""What an agent's index says, apart from the file stat data git caches in it.

`git status` run by an agent (or by anyone without GIT_OPTIONAL_LOCKS=0) rewrites the index to
refresh its cached stat data: the file's own stat changes, its entries do not. The daemon's
reconcile and the incremental checkpoint's trusted base (checkpoints/freshness.py) use this
digest of the entries (path, mode, object id, flags, extended flags), so such a rewrite costs
neither a full `git status` of the agent at the next tick nor a full checkpoint scan, while
`git add`, `git rm --cached`, `update-index --assume-unchanged` and the like still do.

The digest is recomputed only when the index file's stat changed (one read and parse of the
file, instead of a git process that also reads the whole worktree); an index this module does
not know (version 4, prefix-compressed; a damaged one) falls back to its stat.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

_MAX_INDEXES = 1024  # the oldest forgotten first; one per agent in practice
_STAT_END = 40  # ctime, mtime, dev, ino, mode, uid, gid, size: 4-byte fields
_MODE = slice(24, 28)
_ENTRY_FIXED = 62  # the stat data, the object id (20 bytes), the flags (2 bytes)
_EXTENDED_BIT = 0x40  # in the first byte of the flags: a version 3 entry with extended flags


def entries_digest(data: bytes) -> bytes | None:
    """A digest of the index entries without their stat data; None: an index of a version
    this does not read (or not an index)."""
    if len(data) < 12 or data[:4] != b"DIRC":
        return None
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3):
        return None
    parts: list[bytes] = []  # one hash over all of them: a few ms for 20k entries
    append, find = parts.append, data.find
    pos = 12
    for _ in range(count):
        if pos + _ENTRY_FIXED > len(data):
            return None
        name_start = pos + _ENTRY_FIXED + (2 if data[pos + 60] & _EXTENDED_BIT else 0)
        end = find(b"\0", name_start)
        if end < 0:
            return None
        append(data[pos + _MODE.start:pos + _MODE.stop])
        append(data[pos + _STAT_END:end + 1])  # object id, flags, extended flags, name, NUL
        pos += (end - pos + 8) & ~7  # NUL-padded to a multiple of eight bytes
    if pos > len(data):
        return None
    return hashlib.sha1(b"".join(parts), usedforsecurity=False).digest()


class IndexDigests:
    """Digests of index files, each recomputed only when the file's stat changed."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[tuple[int, int, int, int], object]] = {}

    def signature(self, index: Path) -> object:
        """The entries' digest, or the file's stat when it cannot be read as entries."""
        try:
            st = os.stat(index)
        except OSError:
            return ()
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._known.get(str(index))
        if known is not None and known[0] == stamp:
            return known[1]
        try:
            digest = entries_digest(index.read_bytes())
        except OSError:
            digest = None
        value: object = digest if digest is not None else stamp
        self._known.pop(str(index), None)
        self._known[str(index)] = (stamp, value)
        while len(self._known) > _MAX_INDEXES:
            del self._known[next(iter(self._known))]
        return value

    def forget(self, index: Path) -> None:
        self._known.pop(str(index), None)

    def __len__(self) -> int:
        return len(self._known)
