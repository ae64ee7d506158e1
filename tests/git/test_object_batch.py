"""Objects gathered in memory land in the repository as one pack git itself reads and checks."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from gitwarden.git import object_batch
from gitwarden.git.object_batch import OBJ_BLOB, OBJ_TREE, ObjectBatch
from tests.helpers.gitrepo import git, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path, {"README.md": "hello\n", "src/app.py": "print('hi')\n"})


def packs(repo: Path) -> set[str]:
    return {p.name for p in (repo / ".git" / "objects" / "pack").iterdir()}


def test_a_batch_is_one_pack_git_verifies(repo: Path) -> None:
    handle = pygit2.Repository(str(repo))
    before = packs(repo)
    batch = ObjectBatch(handle, repo / ".git" / "objects")
    small = batch.add(OBJ_BLOB, b"small\n")
    big = batch.add(OBJ_BLOB, os.urandom(70_000) + b"x" * 70_000)  # sizes over 4 and 7 bits
    empty = batch.add(OBJ_BLOB, b"")
    existing = batch.add(OBJ_BLOB, b"hello\n")  # README.md's blob: not written again
    raw = b"".join(b"100644 " + name + b"\0" + oid.raw for name, oid in
                   sorted([(b"big", big), (b"empty", empty), (b"same", existing),
                           (b"small", small)]))
    tree_id = batch.add(OBJ_TREE, raw)
    assert small == pygit2.hash(b"small\n")
    assert len(batch) == 5

    index = batch.write()

    assert index is not None and index.name.endswith(".idx")
    new = packs(repo) - before
    assert new == {index.name, index.name[:-4] + ".pack"}
    assert not any(name.startswith("tmp_") for name in packs(repo))
    verified = git(repo, "verify-pack", "-v", str(index))
    assert verified.count(" blob ") == 3 and verified.count(" tree ") == 1  # not README's
    assert git(repo, "cat-file", "-p", f"{tree_id}:small") == "small\n"
    assert git(repo, "ls-tree", str(tree_id)).count("\n") == 4
    assert (index.stat().st_mode & 0o777) == 0o444 & ~_umask()
    commit = git(repo, "commit-tree", str(tree_id), "-m", "from a batch").strip()
    git(repo, "update-ref", "refs/heads/batch", commit)
    assert git(repo, "fsck", "--no-progress", "--strict") == ""
    assert batch.write() is None and len(batch) == 0  # written once, then empty


def test_objects_the_repository_has_write_no_pack(repo: Path) -> None:
    handle = pygit2.Repository(str(repo))
    before = packs(repo)
    batch = ObjectBatch(handle, repo / ".git" / "objects")
    batch.add(OBJ_BLOB, b"hello\n")
    assert batch.write() is None and packs(repo) == before


def test_a_failed_write_leaves_nothing_and_a_big_batch_says_so(repo: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    handle = pygit2.Repository(str(repo))
    before = packs(repo)
    batch = ObjectBatch(handle, repo / ".git" / "objects")
    batch.add(OBJ_BLOB, b"never written\n")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(object_batch.os, "replace", refuse)
    with pytest.raises(OSError):
        batch.write()
    assert packs(repo) == before  # no temporary file either
    monkeypatch.setattr(object_batch, "MAX_BATCH_BYTES", 10)
    assert not batch.full
    batch.add(OBJ_BLOB, b"more than ten bytes\n")
    assert batch.full


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
