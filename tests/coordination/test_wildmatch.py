"""Lock and scope patterns follow git's wildmatch: compared with `git ls-files ':(glob)...'`."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwarden.coordination.scope import (
    OutsideRepository,
    in_scope,
    matches,
    normalize_pattern,
    patterns_overlap,
    relative_to_root,
)
from gitwarden.coordination.wildmatch import wildmatch
from tests.helpers.gitrepo import git, make_repo

FILES = ["a.py", "src/a.py", "src/b/c.py", "src/b/d/e.py", "src/payments/x.txt", "docs/a[1].md",
         "foo/bar", "foo/x/bar", "foo/x/y/bar", "abc", "a/b", "README.md", "src/.hidden",
         "x/src/a.py", "Bcd"]
PATTERNS = ["*.py", "src/*.py", "src/**", "src/**/*.py", "**/*.py", "foo/**/bar", "**/bar",
            "a?c", "[a-c]bc", "[!a]bc", "docs/a\\[1\\].md", "docs/a[[]1].md", "src/*/c.py", "*",
            "**", "src/b/**/e.py", "*/bar", "foo/*/bar", "[[:alpha:]]bc", "[[:upper:]]cd",
            "**/src/*.py", "src/b/d", "src", "foo", "src/payments"]


def test_patterns_select_what_git_selects(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {name: "x\n" for name in FILES})
    for pattern in PATTERNS:
        listed = git(repo, "ls-files", "-z", "--", f":(glob){pattern}").split("\0")
        expected = {name for name in listed if name}
        assert {f for f in FILES if matches(pattern, f)} == expected, pattern


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("foo/**/bar", "foo/bar", True), ("**/", "a/", True), ("a/**", "a", False),
    ("[", "[", False), ("a\\", "a", False), ("*a*", "xax", True), ("?", "/", False),
    ("[]]", "]", True), ("[a-]", "-", True), ("t[!a-c]st", "test", True),
])
def test_wildmatch_corner_cases(pattern: str, text: str, expected: bool) -> None:
    assert wildmatch(pattern, text) is expected


def test_overlap_and_scope() -> None:
    assert patterns_overlap("src/**", "src/a/b.py")
    assert patterns_overlap("src", "src/*.py")
    assert not patterns_overlap("docs/**", "src/a.py")
    assert patterns_overlap("src/*.py", "src/**")
    assert in_scope([], "anything")
    assert in_scope(["src/payments/**"], "src/payments/api.py")
    assert not in_scope(["src/payments/**"], "src/orders/api.py")
    assert in_scope(["src/payments/**"], ".gitwarden/STATE.md")


def test_normalization(tmp_path: Path) -> None:
    assert normalize_pattern("./src//a.py") == "src/a.py"
    assert normalize_pattern("src/x/../a.py") == "src/a.py"
    for bad in ("../x", "/etc/passwd", ".git/HEAD", "a/../../b"):
        with pytest.raises(OutsideRepository):
            normalize_pattern(bad)
    root = tmp_path / "wt"
    root.mkdir()
    assert relative_to_root(str(root / "src" / "a.py"), str(root)) == "src/a.py"
    assert relative_to_root("a.py", str(root), cwd=str(root / "src")) == "src/a.py"
    with pytest.raises(OutsideRepository):
        relative_to_root("../../etc/passwd", str(root), cwd=str(root))
