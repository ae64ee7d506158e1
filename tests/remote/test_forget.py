"""Forgetting a machine that will not come back: only when stale (or forced), leased."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gitwarden.config import RemoteConfig
from gitwarden.errors import GitwardenError
from gitwarden.remote import claims
from gitwarden.remote.forget import forget_machine
from gitwarden.remote.presence import LocalPresence, publish
from tests.helpers.git_server import git_server, gitwarden_refs
from tests.helpers.gitrepo import git


def test_only_a_stale_machine_is_forgotten_with_its_locks(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one, two = tmp_path / "one", tmp_path / "two"
        git(tmp_path, "clone", "-q", server.url(), str(one))
        git(tmp_path, "clone", "-q", server.url(), str(two))
        head = git(one, "rev-parse", "HEAD").strip()
        publish(one, "origin", "m1", [LocalPresence("alpha", "agent/alpha", head, head, head,
                                                    ("a.txt",))], {}, now=time.time() - 100)
        assert claims.claim(one, "origin", machine="m1", agent="alpha", patterns=["a.txt"],
                            expires_at=None).granted
        assert claims.claim(two, "origin", machine="m2", agent="beta", patterns=["b.txt"],
                            expires_at=None).granted
        with pytest.raises(GitwardenError, match="alive"):
            forget_machine(two, RemoteConfig("origin", 3600.0, "m2"), "m1")
        done = forget_machine(two, RemoteConfig("origin", 10.0, "m2"), "m1")
        assert len(done.refs) == 3 and done.kept == []
        left = gitwarden_refs(server.bare())
        assert not [ref for ref in left if ref.startswith("refs/gitwarden/machines/m1/")]
        # m2's own lock stays.
        assert len([ref for ref in left if ref.startswith("refs/gitwarden/locks/")]) == 1
