"""Verdicts follow the branch, with the real daemon: a breaking commit that an amend, a
`reset --hard`, a rebase or a quick fix on top takes away is never paused, reverted or
notified about, and status shows the verdict of the agent's HEAD."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.git.repository import locate_repo
from gitwarden.health import service as health_service
from gitwarden.health import table as health_state
from gitwarden.health.results import AgentHealth
from gitwarden.store.db import Store
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import RepoWithAgents, commit_all, git, run_gitwarden, write
from tests.helpers.health_repo import events, head, setup_repo

# Slow enough that the daemon is still checking the breaking commit when the agent moves on.
SLOW_CHECK = "sleep 0.6; grep -qx ok status.txt"
ACTIONS = ("health.culprit", "health.culprit-known", "health.revert", "health.revert-refused",
           "agent.paused", "health.base-broken", "health.preexisting", "health.flaky")


def _running_on(repo: RepoWithAgents, commit: str) -> bool:
    with Store.open(locate_repo(repo.main)) as store:
        underway = health_state.progress(store, "alpha")
    return underway is not None and underway.commit == commit and underway.state == "running"


def _alpha_status(repo: RepoWithAgents) -> dict[str, object]:
    proc = run_gitwarden("status", "--json", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    (entry,) = [a for a in json.loads(proc.stdout)["agents"] if a["name"] == "alpha"]
    return dict(entry)


def _head_passes(repo: RepoWithAgents) -> dict[str, object] | None:
    entry = _alpha_status(repo)
    return entry if entry["health"] == "pass" else None


def _break_then(repo: RepoWithAgents, undo: Callable[[Path, str], None]) -> None:
    """alpha commits a break; while the daemon checks it, `undo` takes it off the branch (or
    fixes it on top); no action may follow, and status shows the new HEAD's pass."""
    alpha = repo.agents["alpha"]
    daemon = DaemonProcess(repo.main)
    try:
        wait_until(lambda: _head_passes(repo), 30, "alpha's start HEAD was not checked", daemon)
        write(alpha, {"status.txt": "broken\n"})
        bad = commit_all(alpha, "break the check")
        wait_until(lambda: _running_on(repo, bad), 30, "the break was not being checked", daemon)
        undo(alpha, bad)
        final = head(alpha)
        assert final != bad
        wait_until(lambda: events(repo, "health.superseded"), 60,
                   "the check of the break was not superseded", daemon)
        entry = wait_until(lambda: (e := _head_passes(repo)) and e["head"] == final and e,
                           60, "the new HEAD has no pass", daemon)
        assert entry["culprit"] is None and entry["paused"] is False
        assert entry["health_results"]["test"]["commit"] == final  # type: ignore[index]
        daemon.request("flush")
        wait_until(lambda: not _busy(repo), 60, "health work did not settle", daemon)
        for kind in ACTIONS:
            assert events(repo, kind) == [], kind
        assert head(alpha) == final
        with Store.open(locate_repo(repo.main)) as store:
            assert health_state.reverts(store, "alpha") == []
        superseded = events(repo, "health.superseded")
        assert all(e["data"]["commit"] == bad for e in superseded)  # type: ignore[index]
        assert all("notify" not in e["data"] for e in superseded)  # type: ignore[operator]
    finally:
        assert daemon.stop() == 0


def _busy(repo: RepoWithAgents) -> bool:
    with Store.open(locate_repo(repo.main)) as store:
        underway = health_state.progress(store, "alpha")
    return underway is not None and underway.alive


def _amend(alpha: Path, _bad: str) -> None:
    write(alpha, {"status.txt": "ok\n", "feature.txt": "done right\n"})
    git(alpha, "add", "-A")
    git(alpha, "commit", "-q", "--amend", "-m", "feature, fixed")


def _reset(alpha: Path, _bad: str) -> None:
    git(alpha, "reset", "-q", "--hard", "HEAD~1")


def _fix_on_top(alpha: Path, _bad: str) -> None:
    write(alpha, {"status.txt": "ok\n"})
    commit_all(alpha, "fix the check")


@pytest.mark.parametrize("undo", [_amend, _reset, _fix_on_top],
                         ids=["amend", "reset-hard", "quick-fix-on-top"])
def test_a_break_that_does_not_stay_is_never_acted_on(tmp_path: Path,
                                                      undo: Callable[[Path, str], None]) -> None:
    repo = setup_repo(tmp_path, policy="revert", check=SLOW_CHECK)
    _break_then(repo, undo)


def test_a_break_rebased_away_is_never_acted_on(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert", check=SLOW_CHECK)
    alpha = repo.agents["alpha"]
    write(alpha, {"one.txt": "1\n"})
    commit_all(alpha, "first")

    def rebase_dropping_the_break(path: Path, bad: str) -> None:
        write(path, {"two.txt": "2\n"})
        commit_all(path, "second, after the break")
        git(path, "rebase", "-q", "--onto", f"{bad}~1", bad)

    _break_then(repo, rebase_dropping_the_break)


def test_a_break_that_stays_on_the_branch_is_still_acted_on(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="pause", check=SLOW_CHECK)
    alpha = repo.agents["alpha"]
    daemon = DaemonProcess(repo.main)
    try:
        wait_until(lambda: _head_passes(repo), 30, "alpha's start HEAD was not checked", daemon)
        write(alpha, {"status.txt": "broken\n"})
        bad = commit_all(alpha, "break the check")
        wait_until(lambda: _running_on(repo, bad), 30, "the break was not being checked", daemon)
        write(alpha, {"more.txt": "more work, still broken\n"})
        top = commit_all(alpha, "more work")
        (culprit,) = wait_until(lambda: events(repo, "health.culprit"), 60,
                                "the break on the branch was not acted on", daemon)
        assert culprit["data"]["culprit"] == bad  # type: ignore[index]
        assert events(repo, "agent.paused")
        entry = wait_until(lambda: (e := _alpha_status(repo))["health"] == "broken" and e, 60,
                           "status does not show the HEAD broken", daemon)
        assert entry["head"] == top and entry["culprit"] == bad and entry["paused"] is True
    finally:
        assert daemon.stop() == 0


def test_a_running_check_of_a_commit_that_left_the_branch_is_killed(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    repo = setup_repo(tmp_path, policy="revert",
                      check=f"touch {marker}; grep -qx ok status.txt || sleep 600")
    alpha = repo.agents["alpha"]
    write(alpha, {"status.txt": "broken\n"})
    bad = commit_all(alpha, "break the check")
    found: list[AgentHealth] = []

    def check() -> None:
        workspace = Workspace.load(repo.main)
        with Store.open(workspace.repo) as store:
            found.append(health_service.check_agent_commit(
                workspace, store, workspace.agent("alpha"), bad, trigger="commit"))

    worker = threading.Thread(target=check)
    worker.start()
    wait_until(lambda: marker.exists(), 30, "the check did not start")
    git(alpha, "reset", "-q", "--hard", "HEAD~1")
    worker.join(timeout=120)
    assert not worker.is_alive(), "the check of the reset commit was not killed"
    (result,) = found
    assert result.verdict == "superseded" and bad[:10] in result.detail
    logs = sorted((locate_repo(repo.main).state_dir / "health-logs").glob("*.log"))
    assert any("killed: the result no longer matters" in log.read_text() for log in logs)
    assert events(repo, "health.superseded") and not events(repo, "health.culprit")
