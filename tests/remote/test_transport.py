"""Only gitwarden's refs move: pushes refuse other refs, fetches land in the private mirror and
leave the user's refs (and FETCH_HEAD) alone, even when the server's branches moved."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwarden.remote.transport import RefUpdate, fetch, mirrored_refs, push
from tests.helpers.git_server import commit_on, git_server
from tests.helpers.gitrepo import git


def local_user_refs(path: Path) -> str:
    return git(path, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads",
               "refs/tags", "refs/remotes")


def test_pushes_refuse_refs_outside_refs_gitwarden() -> None:
    for ref in ("refs/heads/main", "refs/tags/v1", "refs/remotes/origin/main", "HEAD"):
        with pytest.raises(ValueError):
            RefUpdate(ref, "0" * 40, None)


def test_fetch_lands_in_the_mirror_only(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one, two = tmp_path / "one", tmp_path / "two"
        git(tmp_path, "clone", "-q", server.url(), str(one))
        git(tmp_path, "clone", "-q", server.url(), str(two))
        head = git(one, "rev-parse", "HEAD").strip()
        outcome = push(one, "origin", [RefUpdate("refs/gitwarden/locks/abc", head, None)])
        assert outcome.ok and outcome.accepted == ["refs/gitwarden/locks/abc"]
        # The user's branch moves on the server; gitwarden's fetch must not follow it.
        commit_on(one, {"new.txt": "x\n"})
        git(one, "push", "-q", "origin", "main")
        git(one, "tag", "v2")
        git(one, "push", "-q", "origin", "v2")
        before = local_user_refs(two)
        fetch(two, "origin")
        assert local_user_refs(two) == before
        assert not (two / ".git" / "FETCH_HEAD").exists()
        assert mirrored_refs(two, "origin") == {"refs/gitwarden/locks/abc": head}
        # A second create of the same ref (another commit) is refused by the lease.
        other = git(two, "rev-parse", "HEAD~0^{tree}").strip()
        second = git(two, "commit-tree", other, "-m", "another claim").strip()
        again = push(two, "origin", [RefUpdate("refs/gitwarden/locks/abc", second, None)])
        assert not again.ok and "refs/gitwarden/locks/abc" in again.rejected
