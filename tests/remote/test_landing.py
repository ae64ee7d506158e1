"""Advancing the base on the remote by a leased push: two machines landing at once never lose
a commit; a landing that would drop commits is refused before any push."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwarden.remote.landing import NotAFastForward, advance_remote_base
from gitwarden.remote.transport import RefUpdate
from tests.helpers.git_server import commit_on, git_server, gitwarden_refs
from tests.helpers.gitrepo import git


def clone(root: Path, url: str, name: str) -> Path:
    path = root / name
    git(root, "clone", "-q", url, str(path))
    return path


def test_second_lander_is_refused_and_told_the_new_base(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one, two = clone(tmp_path, server.url(), "one"), clone(tmp_path, server.url(), "two")
        old = git(one, "rev-parse", "HEAD").strip()
        first = commit_on(one, {"a.txt": "a\n"}, "land a")
        second = commit_on(two, {"b.txt": "b\n"}, "land b")
        won = advance_remote_base(one, "origin", "main", old, first)
        assert won.advanced and won.remote_now == first
        lost = advance_remote_base(two, "origin", "main", old, second)
        assert not lost.advanced
        assert lost.remote_now == first
        assert git(server.bare(), "rev-parse", "main").strip() == first


def test_landing_that_drops_commits_is_refused_before_pushing(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = clone(tmp_path, server.url(), "one")
        old = git(one, "rev-parse", "HEAD").strip()
        landed = commit_on(one, {"a.txt": "a\n"})
        assert advance_remote_base(one, "origin", "main", old, landed).advanced
        git(one, "reset", "-q", "--hard", old)
        other = commit_on(one, {"c.txt": "c\n"})
        with pytest.raises(NotAFastForward):
            advance_remote_base(one, "origin", "main", landed, other)
        assert git(server.bare(), "rev-parse", "main").strip() == landed


def test_landing_record_goes_in_the_same_atomic_push(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = clone(tmp_path, server.url(), "one")
        old = git(one, "rev-parse", "HEAD").strip()
        new = commit_on(one, {"a.txt": "a\n"})
        record = RefUpdate("refs/gitwarden/landed/main", new, None)
        assert advance_remote_base(one, "origin", "main", old, new, also=[record]).advanced
        assert gitwarden_refs(server.bare())["refs/gitwarden/landed/main"] == new
        # A stale base fails the whole push: the record is not written either.
        newer = commit_on(one, {"b.txt": "b\n"})
        again = advance_remote_base(one, "origin", "main", old, newer,
                                    also=[RefUpdate("refs/gitwarden/landed/other", newer, None)])
        assert not again.advanced
        assert "refs/gitwarden/landed/other" not in gitwarden_refs(server.bare())
