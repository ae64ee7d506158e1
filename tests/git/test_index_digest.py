"""The reconcile's index signature: blind to the stat data `git status` refreshes, not to what
git commands change in the entries."""

from __future__ import annotations

from pathlib import Path

from gitwarden.git.index_digest import IndexDigests, entries_digest
from tests.helpers.gitrepo import git, make_repo, write


def test_a_status_refresh_keeps_the_digest_and_entry_changes_move_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {f"d{n}/f{n}.txt": f"{n}\n" for n in range(40)})
    index = repo / ".git" / "index"
    first = entries_digest(index.read_bytes())
    assert first is not None
    before = index.stat().st_mtime_ns
    write(repo, {"d3/f3.txt": "3\n"})  # same bytes, new stat data: git status rewrites the index
    git(repo, "status")
    assert index.stat().st_mtime_ns != before
    assert entries_digest(index.read_bytes()) == first
    changes = [("update-index", "--assume-unchanged", "d3/f3.txt"),
               ("update-index", "--skip-worktree", "d4/f4.txt"),  # an extended (v3) entry
               ("add", "new.txt"), ("rm", "-q", "--cached", "d5/f5.txt")]
    write(repo, {"new.txt": "n\n"})
    seen = {first}
    for change in changes:
        git(repo, *change)
        digest = entries_digest(index.read_bytes())
        assert digest is not None and digest not in seen
        seen.add(digest)


def test_unknown_indexes_fall_back_to_the_stat_and_are_read_once_per_change(
        tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.txt": "a\n"})
    index = repo / ".git" / "index"
    digests = IndexDigests()
    signature = digests.signature(index)
    assert isinstance(signature, bytes) and digests.signature(index) == signature
    git(repo, "update-index", "--index-version", "4")  # prefix-compressed: not read
    assert entries_digest(index.read_bytes()) is None
    assert isinstance(digests.signature(index), tuple)
    assert entries_digest(b"not an index") is None
    assert digests.signature(tmp_path / "missing") == ()
    assert len(digests) == 1
