"""A three-way merge of one file's contents, in files outside any repository.

Why not libgit2: pygit2's merge_file_from_index wants the three versions as blobs in the
object database, so predicting a merge of an agent's uncommitted file would write a loose
object into the user's repository for every edit (thousands of unreachable objects after an
edit storm, and `git gc` warnings in every agent's commit). `git merge-file -p` merges the same
way git itself does (xdiff), reads three plain files in a private temporary directory and
writes nothing but its output.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gitwarden.git.runner import run_git


@dataclass(frozen=True)
class FileMerge:
    clean: bool
    text: str | None  # the merged text, with conflict markers when not clean
    unmergeable: bool = False  # binary content: git would not merge it line by line


def merge_file_contents(ancestor: bytes | None, ours: bytes, theirs: bytes, *,
                        labels: tuple[str, str, str] = ("ours", "base", "theirs")) -> FileMerge:
    """Merge `ours` and `theirs` from `ancestor` (None: the file is new on both sides)."""
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
