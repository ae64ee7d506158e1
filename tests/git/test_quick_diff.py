"""QuickDiff says "differs from HEAD" only where `git status` certainly agrees."""

from __future__ import annotations

import os
from pathlib import Path

from gitwarden.git.quick_diff import QuickDiff
from tests.helpers.gitrepo import commit_all, git, make_repo, write


def _status_lists(repo: Path, rel: str) -> bool:
    return bool(git(repo, "status", "--porcelain", "--", rel).strip())


def test_a_changed_tracked_file_differs_and_git_agrees(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.py": "one\n", "b.py": "b\n"})
    quick = QuickDiff()
    write(repo, {"a.py": "two\n"})
    assert quick.differs_from_head(repo, "a.py") is True and _status_lists(repo, "a.py")
    assert quick.leading_dirty(repo, ["a.py"], lambda _rel: True) == {"a.py"}
    assert quick.leading_dirty(repo, ["a.py"], lambda _rel: False) is None  # not an edge
    assert quick.leading_dirty(repo, ["a.py", "b.py"], lambda _rel: True) is None
    # HEAD is read at each call: once committed, git must judge again
    commit_all(repo, "two")
    assert quick.differs_from_head(repo, "a.py") is None and not _status_lists(repo, "a.py")


def test_whatever_git_could_judge_otherwise_is_left_to_git(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.py": "one\n", "link": "x\n", "gone.py": "g\n"})
    quick = QuickDiff()
    assert quick.differs_from_head(repo, "a.py") is None  # same bytes as HEAD
    write(repo, {"new.py": "n\n"})
    assert quick.differs_from_head(repo, "new.py") is None  # untracked
    os.remove(repo / "gone.py")
    assert quick.differs_from_head(repo, "gone.py") is None  # deleted
    os.remove(repo / "link")
    os.symlink("a.py", repo / "link")
    assert quick.differs_from_head(repo, "link") is None  # no longer a regular file
    assert quick.differs_from_head(repo, "src") is None  # not a file of HEAD


def test_files_git_filters_are_left_to_git(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.txt": "one\n", "b.bin": "b\n",
                                ".gitattributes": "*.txt text eol=crlf\n"})
    quick = QuickDiff()
    write(repo, {"a.txt": "one\r\n", "b.bin": "c\n"})
    assert quick.differs_from_head(repo, "a.txt") is None
    assert quick.differs_from_head(repo, "b.bin") is True
    git(repo, "config", "core.autocrlf", "input")
    assert QuickDiff().differs_from_head(repo, "b.bin") is None


def test_every_attribute_file_that_could_filter_is_seen(tmp_path: Path) -> None:
    rule = "*.txt text eol=crlf\n"
    repo = make_repo(tmp_path / "r", {"sub/a.txt": "one\n", "top.txt": "one\n", "b.bin": "b\n"})
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "wt")
    linked = tmp_path / "wt"
    for root in (repo, linked):
        write(root, {"sub/a.txt": "one\r\n", "top.txt": "one\r\n", "b.bin": "c\n"})
    quick = QuickDiff()
    assert quick.differs_from_head(linked, "b.bin") is True  # no attribute file anywhere
    write(repo, {"sub/.gitattributes": rule})  # in a parent directory, in the worktree only
    assert quick.differs_from_head(repo, "sub/a.txt") is None
    assert quick.differs_from_head(repo, "top.txt") is True  # not a parent of top.txt
    git(repo, "add", "sub/.gitattributes")
    os.remove(repo / "sub/.gitattributes")  # staged, then deleted: in the index only
    assert quick.differs_from_head(repo, "sub/a.txt") is None
    assert quick.differs_from_head(repo, "top.txt") is True  # libgit2 asked: no rule for it
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text(rule)  # shared by every worktree
    assert quick.differs_from_head(linked, "top.txt") is None
    assert quick.differs_from_head(linked, "b.bin") is True  # no rule for it: git agrees
    assert _status_lists(linked, "b.bin")


def test_the_index_is_searched_once_per_version(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.py": "one\n", "b.py": "b\n"})
    write(repo, {"a.py": "two\n", "b.py": "c\n"})
    quick = QuickDiff()
    assert quick.differs_from_head(repo, "a.py") is True
    assert quick.differs_from_head(repo, "b.py") is True
    assert next(iter(quick._index_attributes.values()))[1] is False
    write(repo, {".gitattributes": "*.py ident\n"})
    git(repo, "add", ".gitattributes")  # a new index: searched again
    os.remove(repo / ".gitattributes")
    assert quick.differs_from_head(repo, "a.py") is None
    assert len(quick._index_attributes) == 1
