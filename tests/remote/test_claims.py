"""Locks on a real git server: compare-and-swap on lock refs decides, among racing machines,
exactly one holder."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from gitwarden.remote import claims
from gitwarden.remote.transport import fetch
from tests.helpers.git_server import git_server, gitwarden_refs, user_refs
from tests.helpers.gitrepo import git

ROUNDS = 50 if os.environ.get("GITWARDEN_LONG_TESTS") == "1" else 8


def clones(root: Path, url: str, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        path = root / f"client{index}"
        git(root, "clone", "-q", url, str(path))
        paths.append(path)
    return paths


def race_once(clients: list[Path], round_no: int) -> dict[int, claims.ClaimOutcome]:
    """All clients claim the same pattern at the same moment, each from its own clone."""
    barrier = threading.Barrier(len(clients))
    outcomes: dict[int, claims.ClaimOutcome] = {}

    def race(index: int, path: Path) -> None:
        barrier.wait()
        outcomes[index] = claims.claim(
            path, "origin", machine=f"m{index}", agent="agent", patterns=["src/app.py"],
            reason=f"round {round_no}", expires_at=time.time() + 600)

    threads = [threading.Thread(target=race, args=(i, p)) for i, p in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_racing_clients_get_exactly_one_holder_each_round(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        before = user_refs(server.url())
        clients = clones(tmp_path, server.url(), 4)
        for round_no in range(ROUNDS):
            outcomes = race_once(clients, round_no)
            winners = [i for i, outcome in outcomes.items() if outcome.granted]
            assert len(winners) == 1, (round_no, outcomes)
            for index, outcome in outcomes.items():
                if index != winners[0]:
                    assert outcome.conflicts and outcome.conflicts[0].machine == f"m{winners[0]}"
            winner = winners[0]
            ref = next(iter(gitwarden_refs(server.bare(), "refs/gitwarden/locks/")))
            released = claims.release(clients[winner], "origin",
                                      {ref: outcomes[winner].commits["src/app.py"]})
            assert released == [ref]
        assert gitwarden_refs(server.bare(), "refs/gitwarden/locks/") == {}
        assert user_refs(server.url()) == before


def test_expired_lock_is_taken_over_with_a_lease_and_the_old_holder_cannot_release_it(
        tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one, two = clones(tmp_path, server.url(), 2)
        first = claims.claim(one, "origin", machine="m1", agent="a", patterns=["db/**"],
                             expires_at=time.time() - 1)
        assert first.granted
        second = claims.claim(two, "origin", machine="m2", agent="b", patterns=["db/**"],
                              expires_at=time.time() + 600)
        assert second.granted
        assert [lock.machine for lock in second.taken_over] == ["m1"]
        ref = next(iter(gitwarden_refs(server.bare(), "refs/gitwarden/locks/")))
        # m1's release is leased on its own commit: it must not delete m2's lock.
        assert claims.release(one, "origin", {ref: first.commits["db/**"]}) == []
        fetch(one, "origin")
        assert [lock.machine for lock in claims.remote_locks(one, "origin")] == ["m2"]


def test_overlapping_globs_of_another_holder_refuse_the_claim(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one, two = clones(tmp_path, server.url(), 2)
        assert claims.claim(one, "origin", machine="m1", agent="a", patterns=["src/**"],
                            expires_at=None).granted
        refused = claims.claim(two, "origin", machine="m2", agent="b",
                               patterns=["src/app.py"], expires_at=None)
        assert not refused.granted
        assert refused.conflicts[0].pattern == "src/**"
        # The refused claimant backed off: only m1's lock is on the remote.
        assert len(gitwarden_refs(server.bare(), "refs/gitwarden/locks/")) == 1


def test_stale_machine_lock_is_taken_over(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one, two = clones(tmp_path, server.url(), 2)
        assert claims.claim(one, "origin", machine="m1", agent="a", patterns=["x"],
                            expires_at=None).granted
        assert not claims.claim(two, "origin", machine="m2", agent="b", patterns=["x"],
                                expires_at=None).granted
        outcome = claims.claim(two, "origin", machine="m2", agent="b", patterns=["x"],
                               expires_at=None, stale_machines={"m1"})
        assert outcome.granted


def test_renew_is_leased_on_the_commit_last_seen(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        (one,) = clones(tmp_path, server.url(), 1)
        first = claims.claim(one, "origin", machine="m1", agent="a", patterns=["x"],
                             expires_at=time.time() + 5)
        ref = next(iter(gitwarden_refs(server.bare(), "refs/gitwarden/locks/")))
        new = claims.renew(one, "origin", ref=ref, old=first.commits["x"], kind="path",
                           pattern="x", machine="m1", agent="a", reason="",
                           acquired_at=time.time(), expires_at=time.time() + 600)
        assert new is not None
        assert claims.renew(one, "origin", ref=ref, old=first.commits["x"], kind="path",
                            pattern="x", machine="m1", agent="a", reason="",
                            acquired_at=time.time(), expires_at=None) is None


@pytest.mark.parametrize("url", ["git://127.0.0.1:9/nothing.git"])
def test_unreachable_remote_raises_remote_unreachable(tmp_path: Path, url: str) -> None:
    from gitwarden.remote.transport import RemoteUnreachable

    path = tmp_path / "lonely"
    git(tmp_path, "init", "-q", str(path))
    git(path, "remote", "add", "origin", url)
    with pytest.raises(RemoteUnreachable):
        claims.claim(path, "origin", machine="m1", agent="a", patterns=["x"], expires_at=None)


def test_records_from_other_machines_are_checked_before_use(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one, two = clones(tmp_path, server.url(), 2)
        assert claims.claim(one, "origin", machine="m1", agent="a", patterns=["x"],
                            reason="\x1b[2Jevil", expires_at=None).granted
        assert claims.claim(one, "origin", machine="bad name/..", agent="a", patterns=["y"],
                            expires_at=None).granted
        fetch(two, "origin")
        found = claims.remote_locks(two, "origin")
        assert [(lock.machine, lock.reason) for lock in found] == [("m1", "?[2Jevil")]
