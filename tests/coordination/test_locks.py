"""`gitwarden lock / unlock / locks` on real repositories with real worktrees."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gitwarden.coordination.lock_rules import RESOURCE
from gitwarden.coordination.locks import acquire, list_locks, release_stale
from gitwarden.coordination.pauses import pause_agent
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from tests.helpers.gitrepo import RepoWithAgents, make_repo_with_agents, run_gitwarden


@pytest.fixture()
def repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path, names=("alpha", "beta"))


def _store(repo: RepoWithAgents) -> Store:
    return Store.open(locate_repo(repo.main))


def test_lock_conflict_unlock_and_json(repo: RepoWithAgents) -> None:
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    first = run_gitwarden("lock", "src/app.py", "--reason", "refactor", cwd=alpha)
    assert first.returncode == 0, first.stderr
    assert "locked 'src/app.py' for alpha" in first.stdout
    # beta, from a subdirectory: "app.py" there is the same repository path
    second = run_gitwarden("lock", "app.py", cwd=beta / "src")
    assert second.returncode == 1
    assert "locked by agent alpha" in second.stdout and "refactor" in second.stdout
    listing = json.loads(run_gitwarden("locks", "--json", cwd=repo.main).stdout)
    assert [(x["pattern"], x["agent"]) for x in listing["locks"]] == [("src/app.py", "alpha")]
    # beta cannot release alpha's lock without --force
    denied = run_gitwarden("unlock", "src/app.py", cwd=beta)
    assert denied.returncode == 1 and "locked by agent alpha" in denied.stderr
    assert "Traceback" not in denied.stderr
    assert run_gitwarden("unlock", "src/app.py", cwd=alpha).returncode == 0
    assert run_gitwarden("locks", cwd=repo.main).stdout.strip() == "no locks"


def test_glob_lock_blocks_overlapping_paths(repo: RepoWithAgents) -> None:
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    assert run_gitwarden("lock", "src/**", cwd=alpha).returncode == 0
    assert run_gitwarden("lock", "src/deep/x.py", cwd=beta).returncode == 1
    assert run_gitwarden("lock", "README.md", cwd=beta).returncode == 0


def test_force_release_is_recorded_and_notified(repo: RepoWithAgents) -> None:
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    assert run_gitwarden("lock", "src/app.py", cwd=alpha).returncode == 0
    refused = run_gitwarden("unlock", "src/app.py", "--force", cwd=beta)
    assert refused.returncode == 2 and "ask the user" in refused.stderr
    forced = run_gitwarden("unlock", "src/app.py", "--force", cwd=repo.main)
    assert forced.returncode == 0, forced.stderr
    with _store(repo) as store:
        events = list_events(store, kinds=["lock.force-released"])
        assert list_events(store, kinds=["identity.user-only-refused"])
    assert len(events) == 1
    assert events[0].agent == "alpha" and events[0].data["notify"] is True
    assert "force-released by the user" in events[0].message


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", ".git/config", ""])
def test_paths_outside_the_repository_are_refused(repo: RepoWithAgents, bad: str) -> None:
    result = run_gitwarden("lock", bad, cwd=repo.agents["alpha"])
    assert result.returncode == 2
    assert result.stderr.startswith("gitwarden: error: refusing")
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_input_gives_one_line_errors(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    cases = [("lock", "x", "--ttl", "soon"), ("lock",), ("lock", "x", "--agent", "nobody"),
             ("unlock",)]
    for args in cases:
        result = run_gitwarden(*args, cwd=alpha)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    outside = run_gitwarden("lock", "a", cwd=repo.main.parent)
    assert outside.returncode == 2 and "not a git repository" in outside.stderr


def test_wait_until_released_and_renew(repo: RepoWithAgents) -> None:
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    assert run_gitwarden("lock", "src/app.py", "--ttl", "1s", cwd=alpha).returncode == 0
    waited = run_gitwarden("lock", "src/app.py", "--wait", "20s", cwd=beta)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "released stale lock 'src/app.py' of alpha" in waited.stdout
    renewed = run_gitwarden("lock", "--renew", "--ttl", "2h", cwd=beta)
    assert renewed.returncode == 0 and "renewed 'src/app.py'" in renewed.stdout
    with _store(repo) as store:
        (lock,) = list_locks(store)
        assert lock.agent == "beta" and lock.expires_at is not None
        assert lock.expires_at - time.time() > 3600
        told = list_events(store, kinds=["lock.stale-released"])
        assert told and told[-1].agent == "alpha" and told[-1].data["notify"] is True


def test_stale_locks_of_paused_or_removed_holders(repo: RepoWithAgents) -> None:
    with _store(repo) as store:
        assert acquire(store, "alpha", ["a"], ttl=None).granted
        assert acquire(store, "ghost", ["b"], ttl=None).granted
        assert acquire(store, "beta", ["c"], ttl=None).granted
        pause_agent(store, "alpha", "test", "user")
        store.conn.execute("UPDATE pauses SET since = since - 100")
        released = release_stale(store, stale_after=50, known_agents={"alpha", "beta"})
        assert sorted(r.lock.agent for r in released) == ["alpha", "ghost"]
        assert [lock.agent for lock in list_locks(store)] == ["beta"]


def test_resource_lock_of_dead_process_is_released(repo: RepoWithAgents) -> None:
    with _store(repo) as store:
        assert acquire(store, "alpha", ["tests"], ttl=None, kind=RESOURCE, pid=2**22 - 3,
                       pid_start=1).granted
        result = acquire(store, "beta", ["tests"], ttl=None, kind=RESOURCE, pid=1)
        assert result.granted
        assert "process" in result.released_stale[0].why


def test_locking_through_a_symbolic_link_locks_the_file_it_leads_to(
        repo: RepoWithAgents) -> None:
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    (alpha / "alias").symlink_to("src/app.py")
    (alpha / "etcl").symlink_to("/etc")
    locked = run_gitwarden("lock", "alias", cwd=alpha)
    assert locked.returncode == 0 and "locked 'src/app.py' for alpha" in locked.stdout
    assert run_gitwarden("lock", "src/app.py", cwd=beta).returncode == 1
    refused = run_gitwarden("lock", "etcl/passwd", cwd=alpha)
    assert refused.returncode == 2 and "outside the worktree" in refused.stderr
    assert run_gitwarden("unlock", "alias", cwd=alpha).returncode == 0
    assert run_gitwarden("locks", cwd=repo.main).stdout.strip() == "no locks"


def test_ttl_zero_is_refused_and_none_means_no_expiry(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    for zero in ("0s", "0", "0m"):
        refused = run_gitwarden("lock", "README.md", "--ttl", zero, cwd=alpha)
        assert refused.returncode == 2 and "--ttl none" in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    forever = run_gitwarden("lock", "README.md", "--ttl", "none", cwd=alpha)
    assert forever.returncode == 0 and "no expiry" in forever.stdout, forever.stdout
    with _store(repo) as store:
        (lock,) = list_locks(store)
        assert lock.expires_at is None
