"""Trees edited and compared as raw entries equal what git itself writes and reports."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pygit2
import pytest

from gitwarden.git.objects import MODE_BLOB, MODE_EXEC, MODE_GITLINK, MODE_LINK
from gitwarden.git.trees import (
    Entry,
    KnownTrees,
    MalformedTree,
    RawEntries,
    RecentTrees,
    diff_trees,
    edit_tree,
    lookup,
    read_entries,
    serialize,
)
from tests.helpers.gitrepo import git, make_nested_repo, make_repo, write

# Names whose order in a tree differs from a plain sort: a tree sorts as `name/`, so `a`
# (a directory) comes after `a-b` and `a.txt` and before `a0`.
FILES: dict[str, str | bytes] = {
    "a-b": "dash\n", "a.txt": "dot\n", "a/x.txt": "x\n", "a0": "zero\n",
    "docs/deep/er/file.md": "deep\n", "docs/keep.md": "keep\n", "gone/only.txt": "only\n",
    "tool.sh": "#!/bin/sh\n", "plain.txt": "plain\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path, FILES)


def head_tree(repo_path: Path) -> pygit2.Oid:
    return pygit2.Oid(hex=git(repo_path, "rev-parse", "HEAD^{tree}").strip())


def git_tree_of_worktree(repo_path: Path) -> str:
    git(repo_path, "add", "-A")
    return git(repo_path, "write-tree").strip()


def blob(repo: pygit2.Repository, content: bytes, mode: int = MODE_BLOB) -> Entry:
    return repo.create_blob(content), mode


def test_edits_of_every_kind_equal_git_write_tree(repo: Path) -> None:
    handle = pygit2.Repository(str(repo))
    base = head_tree(repo)
    # The same changes on disk, for git.
    (repo / "plain.txt").unlink()
    write(repo, {"a/x.txt": "x edited\n", "a/y.txt": "new\n", "a=b": "after a/\n",
                 "new/dir/deep.txt": "deep new\n", "plain.txt/inside.txt": ""})
    (repo / "a0").unlink()
    shutil.rmtree(repo / "docs" / "deep")
    shutil.rmtree(repo / "gone")
    (repo / "tool.sh").chmod(0o755)
    os.symlink("a.txt", repo / "link")
    make_nested_repo(repo / "vendor")
    nested_head = git(repo / "vendor", "rev-parse", "HEAD").strip()
    updates: dict[str, Entry] = {
        "a/x.txt": blob(handle, b"x edited\n"), "a/y.txt": blob(handle, b"new\n"),
        "a=b": blob(handle, b"after a/\n"), "new/dir/deep.txt": blob(handle, b"deep new\n"),
        "a0": None, "docs/deep": None, "gone/only.txt": None,
        "plain.txt": None, "plain.txt/inside.txt": blob(handle, b""),  # file -> directory
        "tool.sh": blob(handle, b"#!/bin/sh\n", MODE_EXEC),
        "link": blob(handle, b"a.txt", MODE_LINK),
        "vendor": (pygit2.Oid(hex=nested_head), MODE_GITLINK),
    }
    known: KnownTrees = {}

    tree = edit_tree(handle, base, updates, known)

    assert str(tree) == git_tree_of_worktree(repo)
    assert tree is not None and tree.raw in known  # what was written is known to the diff


def test_a_directory_becomes_a_file_and_emptied_trees_disappear(repo: Path) -> None:
    handle = pygit2.Repository(str(repo))
    base = head_tree(repo)
    shutil.rmtree(repo / "docs")
    write(repo, {"docs": "now a file\n"})
    (repo / "gone" / "only.txt").unlink()
    updates: dict[str, Entry] = {"docs": blob(handle, b"now a file\n"), "gone/only.txt": None}

    assert str(edit_tree(handle, base, updates)) == git_tree_of_worktree(repo)
    everything: dict[str, Entry] = {path.split("/")[0]: None for path in FILES}
    assert edit_tree(handle, base, everything) is None


def test_names_git_may_refuse_are_left_to_libgit2(repo: Path) -> None:
    handle = pygit2.Repository(str(repo))
    base = head_tree(repo)
    write(repo, {".gitkeep": "", "docs/.github/ci.yml": "on: push\n"})
    allowed: dict[str, Entry] = {".gitkeep": blob(handle, b""),
                                 "docs/.github/ci.yml": blob(handle, b"on: push\n")}
    assert str(edit_tree(handle, base, allowed)) == git_tree_of_worktree(repo)
    for refused in (".git", "docs/.GIT", "a/..", "git~1"):
        with pytest.raises(pygit2.GitError):
            edit_tree(handle, base, {refused: blob(handle, b"x")})


def test_diff_equals_git_diff_tree(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD^{tree}").strip()
    write(repo, {"a/x.txt": "x edited\n", "new/dir/deep.txt": "n\n", "ünïcødé.txt": "u\n"})
    (repo / "a0").unlink()
    shutil.rmtree(repo / "docs" / "deep")
    shutil.rmtree(repo / "gone")
    write(repo, {"gone": "a file where a directory was\n"})
    (repo / "tool.sh").chmod(0o755)
    (repo / "plain.txt").unlink()
    os.symlink("a.txt", repo / "plain.txt")  # file -> symlink
    after = git_tree_of_worktree(repo)
    expected = git(repo, "-c", "core.quotePath=false", "diff-tree", "-r", "--no-renames",
                   "--name-status", before, after)
    expected_pairs = sorted((tuple(line.split("\t")) for line in expected.splitlines()),
                            key=lambda pair: pair[1])

    changes = diff_trees(pygit2.Repository(str(repo)), pygit2.Oid(hex=before),
                         pygit2.Oid(hex=after))

    assert [(c.status, c.path) for c in changes] == expected_pairs
    assert diff_trees(pygit2.Repository(str(repo)), pygit2.Oid(hex=after),
                      pygit2.Oid(hex=after)) == []


def test_known_trees_are_not_read_again(repo: Path) -> None:
    handle = pygit2.Repository(str(repo))
    base = head_tree(repo)
    entries = dict(read_entries(handle.odb, base))
    entries[b"only-in-memory.txt"] = (b"100644", handle.create_blob(b"m\n").raw)
    absent = pygit2.Oid(raw=b"\x01" * 20)  # no such object in the store
    known: KnownTrees = {absent.raw: entries}

    changes = diff_trees(handle, base, absent, known)

    assert [(c.status, c.path) for c in changes] == [("A", "only-in-memory.txt")]


def test_lookup_and_malformed_trees(repo: Path) -> None:
    handle = pygit2.Repository(str(repo))
    base = head_tree(repo)
    found = lookup(handle.odb, base, "docs/deep/er/file.md")
    assert found is not None and found[0] == MODE_BLOB
    assert str(found[1]) == git(repo, "rev-parse", "HEAD:docs/deep/er/file.md").strip()
    assert lookup(handle.odb, base, "docs/missing.md") is None
    assert lookup(handle.odb, base, "plain.txt/below") is None  # through a file
    assert lookup(handle.odb, base, "docs")[0] == 0o040000  # type: ignore[index]
    with pytest.raises(MalformedTree):
        read_entries(handle.odb, handle.create_blob(b"not a tree"))
    broken = handle.odb.write(pygit2.enums.ObjectType.TREE, b"100644 x\0short")
    with pytest.raises(MalformedTree):
        read_entries(handle.odb, broken)
    assert serialize(read_entries(handle.odb, base)) == handle.odb.read(base)[1]


def test_recent_trees_stay_within_their_bound() -> None:
    recent = RecentTrees(max_entries=5)
    three: RawEntries = {b"a": (b"100644", b"\x00" * 20), b"b": (b"100644", b"\x01" * 20),
                         b"c": (b"100644", b"\x02" * 20)}
    two = dict(list(three.items())[:2])
    recent.put(b"1" * 20, three)
    recent.put(b"2" * 20, two)
    assert recent.get(b"1" * 20) is three and len(recent) == 2
    recent.put(b"3" * 20, two)  # 7 entries: the least recently used tree goes
    assert recent.get(b"2" * 20) is None and recent.get(b"1" * 20) is three
    recent.put(b"4" * 20, {**three, b"d": three[b"a"], b"e": three[b"a"], b"f": three[b"a"]})
    assert recent.get(b"4" * 20) is None  # bigger than the bound: never kept
