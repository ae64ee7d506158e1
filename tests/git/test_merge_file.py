"""Three-way merges of file contents in memory agree with `git merge-file` and touch nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitwarden.git import merge_file
from gitwarden.git.merge_file import merge_file_contents
from gitwarden.overlaps.predict import conflict_ranges

BASE = b"".join(b"line %d\n" % i for i in range(1, 31))
CASES = {
    "clean": (BASE, BASE.replace(b"line 2\n", b"ours\n"), BASE.replace(b"line 28\n", b"theirs\n")),
    "conflict": (BASE, BASE.replace(b"line 7\n", b"ours\n"), BASE.replace(b"line 7\n", b"them\n")),
    "two conflicts": (BASE, BASE.replace(b"line 3\n", b"a\n").replace(b"line 20\n", b"b\n"),
                      BASE.replace(b"line 3\n", b"c\n").replace(b"line 20\n", b"d\n")),
    "added on both sides": (None, b"one\ntwo\n", b"one\nthree\n"),
    "same change": (BASE, BASE.replace(b"line 9\n", b"x\n"), BASE.replace(b"line 9\n", b"x\n")),
    "no newline at the end": (b"a\nb", b"a\nc", b"a\nd"),
}


def _git_merge_file(tmp_path: Path, ancestor: bytes | None, ours: bytes,
                    theirs: bytes) -> tuple[bool, list[tuple[tuple[int, int], tuple[int, int]]]]:
    for name, data in (("ours", ours), ("base", ancestor or b""), ("theirs", theirs)):
        (tmp_path / name).write_bytes(data)
    proc = subprocess.run(["git", "merge-file", "-p", "ours", "base", "theirs"], cwd=tmp_path,
                          capture_output=True, check=False)
    return proc.returncode == 0, conflict_ranges(proc.stdout.decode())


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_in_memory_merge_agrees_with_git_merge_file(tmp_path: Path, case: str) -> None:
    ancestor, ours, theirs = CASES[case]
    merged = merge_file_contents(ancestor, ours, theirs)
    assert merged.text is not None and not merged.unmergeable
    assert (merged.clean, conflict_ranges(merged.text)) == \
        _git_merge_file(tmp_path, ancestor, ours, theirs)
    assert merge_file._memory.blobs.objects == {}  # the blobs lived for one merge only


def test_binary_content_is_not_merged_line_by_line() -> None:
    merged = merge_file_contents(b"a\0b\n", b"a\0c\n", b"a\0d\n")
    assert merged == merge_file.FileMerge(clean=False, text=None, unmergeable=True)


def test_text_that_is_not_utf8_is_merged_by_git() -> None:
    latin = BASE.replace(b"line 5\n", b"caf\xe9\n")
    merged = merge_file_contents(latin, latin.replace(b"line 7\n", b"ours\n"),
                                 latin.replace(b"line 7\n", b"them\n"))
    assert not merged.clean and merged.text is not None
    assert "caf\udce9" in merged.text  # the bytes kept, as git wrote them
    assert conflict_ranges(merged.text) == [((7, 7), (7, 7))]
