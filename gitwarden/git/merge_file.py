"""A three-way merge of one file's contents, outside any repository.

The merge runs in-process with libgit2 (the same xdiff merge git uses) against a private,
in-memory object database: pygit2's merge_file_from_index wants the three versions as blobs in
an object database, and writing an agent's uncommitted file into the user's repository would
leave thousands of unreachable loose objects after an edit storm (and `git gc` warnings in
every agent's commit). Nothing here opens the user's repository. The blobs live only for one
merge. What libgit2 cannot hand back as text (a result that is not UTF-8) is merged by
`git merge-file -p` on three plain files in a private temporary directory.

A file git takes for binary (a NUL in its first 8000 bytes) is not merged line by line, as
`git merge-file` refuses it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitwarden.git.runner import run_git

_BINARY_PROBE = 8000  # what git's buffer_is_binary looks at


@dataclass(frozen=True)
class FileMerge:
    clean: bool
    text: str | None  # the merged text, with conflict markers when not clean
    unmergeable: bool = False  # binary content: git would not merge it line by line


class _Blobs(pygit2.OdbBackend):
    """An object database in a dict: written by create_blob, emptied after each merge."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, tuple[int, bytes]] = {}

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        return self.objects[str(oid)]

    def read_prefix_cb(self, oid: pygit2.Oid) -> tuple[int, bytes, pygit2.Oid]:
        raise KeyError(str(oid))  # merges ask by full id only

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        kind, data = self.objects[str(oid)]
        return kind, len(data)

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        return str(oid) in self.objects

    def exists_prefix_cb(self, oid: pygit2.Oid) -> pygit2.Oid:
        raise KeyError(str(oid))

    def refresh_cb(self) -> None:
        return None

    def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
        self.objects[str(oid)] = (kind, bytes(data))


class _InMemory(threading.local):
    """One repository without a directory per thread (one pygit2 Repository per thread)."""

    def __init__(self) -> None:
        self.blobs = _Blobs()
        odb = pygit2.Odb()
        odb.add_backend(self.blobs, 1)
        self.repo = pygit2.Repository()
        self.repo.set_odb(odb)


_memory = _InMemory()


def merge_file_contents(ancestor: bytes | None, ours: bytes, theirs: bytes, *,
                        labels: tuple[str, str, str] = ("ours", "base", "theirs")) -> FileMerge:
    """Merge `ours` and `theirs` from `ancestor` (None: the file is new on both sides)."""
    if any(_is_binary(data) for data in (ancestor or b"", ours, theirs)):
        return FileMerge(clean=False, text=None, unmergeable=True)
    merged = _merge_in_memory(ancestor, ours, theirs, labels)
    return merged if merged is not None else _merge_with_git(ancestor, ours, theirs, labels)


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:_BINARY_PROBE]


def _merge_in_memory(ancestor: bytes | None, ours: bytes, theirs: bytes,
                     labels: tuple[str, str, str]) -> FileMerge | None:
    """The merge by libgit2; None when its result cannot be read as text."""
    memory = _memory
    repo = memory.repo
    try:
        entries = [pygit2.IndexEntry(label, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
                   for label, data in ((labels[1], ancestor or b""), (labels[0], ours),
                                       (labels[2], theirs))]
        result = repo.merge_file_from_index(entries[0], entries[1], entries[2])
    except UnicodeDecodeError:
        return None
    finally:
        memory.blobs.objects.clear()
    return FileMerge(clean=result.automergeable, text=result.contents)


def _merge_with_git(ancestor: bytes | None, ours: bytes, theirs: bytes,
                    labels: tuple[str, str, str]) -> FileMerge:
    with tempfile.TemporaryDirectory(prefix="gitwarden-merge-") as tmp:
        folder = Path(tmp)
        paths = []
        for name, data in (("ours", ours), ("base", ancestor or b""), ("theirs", theirs)):
            path = folder / name
            path.write_bytes(data)
            paths.append(str(path))
        proc = run_git(["merge-file", "-p", "-L", labels[0], "-L", labels[1], "-L", labels[2],
                        *paths], folder, check=False,
                       env={"GIT_CEILING_DIRECTORIES": os.path.dirname(tmp)})
    if proc.returncode < 0 or proc.returncode > 127:
        return FileMerge(clean=False, text=None, unmergeable=True)
    return FileMerge(clean=proc.returncode == 0,
                     text=proc.stdout.decode("utf-8", "surrogateescape"))
