"""New objects gathered in memory and written to the repository as one pack.

An incremental checkpoint that changes ten files writes about thirty objects. As loose
objects each costs a temporary file, a link and an unlink in the object directory: about a
hundred journaled file system operations per checkpoint, which wait behind every other writer
of the disk (an agent's `git add`, a build). One pack costs two files and two renames.

Invariants:
- `write()` returns only once the pack is complete: its .pack, then its .idx, are renamed into
  `objects/pack/` (git and libgit2 find packs by their .idx), so an id from the batch is
  stored (in a tree, a commit, a ref) only after its object is readable by everyone.
- Objects the repository already has are not written again (but see `add(new=True)`); a
  batch never written (an exception before `write()`) leaves nothing behind; temporary
  files carry git's `tmp_pack_` / `tmp_idx_` prefixes and are removed when writing fails.
- Objects are written whole (no deltas), pack version 2 with an index version 2, named by the
  pack's checksum as git names its own; `git repack` merges such packs (git.repack).
The batch writes into the repository's own object directory (never into a quarantine).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import pygit2

OBJ_COMMIT = 1
OBJ_TREE = 2
OBJ_BLOB = 3
_TYPE_NAMES = {OBJ_COMMIT: b"commit", OBJ_TREE: b"tree", OBJ_BLOB: b"blob"}
# git's core.looseCompression default: the speed of a loose write, the size of a loose object.
COMPRESSION = 1
_SMALL_WINDOW = 12  # log2 of zlib's window for objects up to that size
# A batch this big is written out as it grows (see `full`): a checkpoint of many new files
# holds about this much in memory at most (and writes more than one pack).
MAX_BATCH_BYTES = 32 << 20


class ObjectBatch:
    """Objects for one repository, hashed at once and written together by `write()`."""

    def __init__(self, repo: pygit2.Repository, objects_dir: Path) -> None:
        self._repo = repo
        self._pack_dir = objects_dir / "pack"
        self._objects: dict[bytes, tuple[int, bytes, bool]] = {}
        self._bytes = 0

    def add(self, kind: int, data: bytes, *, new: bool = False) -> pygit2.Oid:
        """The id of the object `data` of `kind`, to be written by the next `write()`.

        `new`: the caller knows the object is new (a tree that differs from the one it
        edits), so the repository is not asked; should it have it after all (a directory put
        back as it once was), the pack holds a second copy, which git reads alike and a
        repack drops.
        """
        digest = hashlib.sha1(b"%s %d\0" % (_TYPE_NAMES[kind], len(data)),
                              usedforsecurity=False)
        digest.update(data)
        raw = digest.digest()
        if raw not in self._objects:
            self._objects[raw] = (kind, data, new)
            self._bytes += len(data)
        return pygit2.Oid(raw=raw)

    @property
    def full(self) -> bool:
        """Holding more than MAX_BATCH_BYTES: time to `write()` (between two files, where a
        failure to write is not mistaken for a file that went away)."""
        return self._bytes > MAX_BATCH_BYTES

    def __len__(self) -> int:
        return len(self._objects)

    def write(self) -> Path | None:
        """Write the objects the repository lacks as one pack; its .idx path, or None when
        there was nothing to write."""
        odb = self._repo.odb
        missing = sorted((raw, kind, data) for raw, (kind, data, new) in self._objects.items()
                         if new or not odb.exists(pygit2.Oid(raw=raw)))
        self._objects.clear()
        self._bytes = 0
        if not missing:
            return None
        pack, index, checksum = _pack_and_index(missing)
        name = f"pack-{checksum.hex()}"
        temps: list[Path] = []
        try:
            for prefix, content in (("tmp_pack_", pack), ("tmp_idx_", index)):
                temps.append(_write_temporary(self._pack_dir, prefix, content))
            os.replace(temps[0], self._pack_dir / f"{name}.pack")
            os.replace(temps[1], self._pack_dir / f"{name}.idx")
        finally:
            for temp in temps:
                temp.unlink(missing_ok=True)
        return self._pack_dir / f"{name}.idx"


def _pack_and_index(objects: list[tuple[bytes, int, bytes]]) -> tuple[bytes, bytes, bytes]:
    """(pack bytes, index bytes, pack checksum) for objects sorted by id."""
    parts = [b"PACK", struct.pack(">II", 2, len(objects))]
    offset = 12
    offsets: list[int] = []
    crcs: list[int] = []
    for _raw, kind, data in objects:
        # Most objects are small: a 4 KiB window compresses them as well as the default 32 KiB
        # one, at half the cost (zlib's set-up dominates below a few KiB).
        window = _SMALL_WINDOW if len(data) <= 1 << _SMALL_WINDOW else 15
        entry = _entry_header(kind, len(data)) + zlib.compress(data, COMPRESSION, window)
        parts.append(entry)
        offsets.append(offset)
        crcs.append(zlib.crc32(entry))
        offset += len(entry)
    body = b"".join(parts)
    checksum = hashlib.sha1(body, usedforsecurity=False).digest()
    fanout = [0] * 256
    for raw, _kind, _data in objects:
        fanout[raw[0]] += 1
    running = 0
    for byte in range(256):
        running += fanout[byte]
        fanout[byte] = running
    if offset >= 1 << 31:
        raise ValueError("a batch pack of 2 GiB or more needs 64-bit offsets")
    index = b"".join([b"\xfftOc", struct.pack(">I", 2), struct.pack(">256I", *fanout),
                      *(raw for raw, _kind, _data in objects),
                      struct.pack(f">{len(crcs)}I", *crcs),
                      struct.pack(f">{len(offsets)}I", *offsets), checksum])
    index += hashlib.sha1(index, usedforsecurity=False).digest()
    return body + checksum, index, checksum


def _entry_header(kind: int, size: int) -> bytes:
    """Type and size of a pack entry: 3 bits of type, the size in 4 then 7-bit groups."""
    first = (kind << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(first | 0x80)
        first = size & 0x7F
        size >>= 7
    out.append(first)
    return bytes(out)


def _write_temporary(directory: Path, prefix: str, content: bytes) -> Path:
    path = directory / f"{prefix}{os.getpid()}_{os.urandom(6).hex()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)  # git's mode, under umask
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
