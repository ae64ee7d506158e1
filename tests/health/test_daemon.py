"""End to end with the real daemon: a breaking commit is found, the agent reverted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pauses import is_paused
from gitwarden.health import table as health_state
from gitwarden.store.db import Store
from gitwarden.store.events import Event, list_events
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import commit_all, git, run_gitwarden, write
from tests.helpers.health_repo import setup_repo

# Each watcher runs the tests whose outcome rests on its events (edited paths, commits,
# branch moves, new worktrees); the rest run on the platform's default watcher.
EACH_WATCHER = pytest.mark.usefixtures("each_watcher")


def _events(workspace: Workspace, kind: str) -> list[Event]:
    with Store.open(workspace.repo) as store:
        return list_events(store, kinds=[kind])


@EACH_WATCHER
def test_daemon_reverts_a_breaking_commit(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert", agents=("alpha", "beta"))
    alpha = repo.agents["alpha"]
    write(alpha, {"one.txt": "1\n"})
    commit_all(alpha, "good work")
    daemon = DaemonProcess(repo.main)
    try:
        write(alpha, {"notes.md": "uncommitted notes\n", "README.md": "editing\n"})
        before = {p: (alpha / p).read_bytes() for p in ("notes.md", "README.md")}
        write(alpha, {"status.txt": "broken\n"})
        git(alpha, "add", "status.txt")
        git(alpha, "commit", "-q", "-m", "break the build")
        bad = git(alpha, "rev-parse", "HEAD").strip()
        started = time.monotonic()

        def reverted() -> bool:
            return git(alpha, "rev-parse", "HEAD^").strip() == bad and \
                git(alpha, "rev-parse", "HEAD").strip() != bad

        wait_until(reverted, 30, "the daemon did not revert the breaking commit", daemon)
        latency = time.monotonic() - started
        workspace = Workspace.load(repo.main)

        def verified() -> list[health_state.Verdict]:
            with Store.open(workspace.repo) as store:
                return [v for v in health_state.verdict_history(store, "alpha")
                        if v.verdict == "pass" and v.trigger == "revert"]

        wait_until(verified, 30, "the revert was not checked", daemon)
        with Store.open(workspace.repo) as store:
            broken = [v for v in health_state.verdict_history(store, "alpha")
                      if v.verdict == "broken"]
            revert = health_state.reverts(store, "alpha")[0]
        assert broken[0].culprit == bad
        assert (alpha / "status.txt").read_text() == "ok\n"
        assert {p: (alpha / p).read_bytes() for p in before} == before
        assert git(alpha, "rev-parse", revert["backup_ref"]).strip() == bad
        print(f"breaking commit -> revert commit: {latency:.2f}s")

        # the user undoes the revert: the daemon sees the culprit again and must not revert
        # it a second time; the agent stays paused and the user is told
        # the daemon must have seen the revert commit as alpha's HEAD before the undo: a HEAD
        # that moves away and back within one event batch is not seen as a change
        time.sleep(1.0)
        proc = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
        assert proc.returncode == 0, proc.stderr
        assert git(alpha, "rev-parse", "HEAD").strip() == bad

        (known,) = wait_until(lambda: _events(workspace, "health.culprit-known"), 30,
                              "the undone revert was not noticed", daemon)
        assert known.data["notify"] is True
        assert "will not revert it again" in known.data["body"]
        assert "`gitwarden resume alpha`" in known.data["body"]
        assert git(alpha, "rev-parse", "HEAD").strip() == bad
        assert (alpha / "status.txt").read_text() == "broken\n"
        with Store.open(workspace.repo) as store:
            assert len(health_state.reverts(store, "alpha")) == 1
            assert is_paused(store, "alpha")
    finally:
        daemon.stop()


def test_daemon_does_not_revert_a_merge_of_a_broken_base(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert", agents=("alpha", "beta"))
    beta = repo.agents["beta"]
    write(beta, {"beta.txt": "work\n"})
    commit_all(beta, "beta work")
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.main, {"status.txt": "broken by main\n"})
        commit_all(repo.main, "main breaks the check")
        git(beta, "merge", "-q", "--no-edit", "main")
        merge = git(beta, "rev-parse", "HEAD").strip()
        workspace = Workspace.load(repo.main)
        (event,) = wait_until(lambda: _events(workspace, "health.base-broken"), 30,
                              "the broken base was not reported", daemon)
        assert event.agent == "beta" and event.data["notify"] is True
        time.sleep(0.5)  # anything the daemon would still do after the report
        assert git(beta, "rev-parse", "HEAD").strip() == merge
        assert (beta / "status.txt").read_text() == "broken by main\n"
        with Store.open(workspace.repo) as store:
            assert not is_paused(store, "beta")
            assert health_state.reverts(store, "beta") == []
            assert list_events(store, kinds=["health.culprit", "health.revert"]) == []
    finally:
        daemon.stop()
