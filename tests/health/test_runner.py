"""Scratch worktrees repair themselves, and a check that cannot run is an event and a
notification, never only a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.health import service as health_service
from gitwarden.health import table as health_state
from gitwarden.health.runner import scratch_git_dir, scratch_root
from gitwarden.store.db import Store
from tests.helpers.daemonproc import DaemonProcess, kill_tree, wait_until
from tests.helpers.gitrepo import commit_all, git, run_gitwarden, write
from tests.helpers.health_repo import agent_commits, events, head, setup_repo


def _verdict(main: Path, agent: str, commit: str) -> str | None:
    with Store.open(Workspace.load(main).repo) as store:
        found = health_state.verdicts_at(store, agent, commit)
    return found[0].verdict if found else None


def test_stale_index_lock_and_broken_scratch_are_repaired(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(alpha)
    (first,) = agent_commits(alpha, {"a.txt": "a\n"})
    health_service.on_agent_commit(workspace, "alpha", None, first)
    scratch = scratch_root(workspace.repo) / "0"
    git_dir = scratch_git_dir(scratch)
    assert git_dir is not None and git_dir.is_dir()
    (git_dir / "index.lock").write_text("")  # left by a killed checkout
    (second,) = agent_commits(alpha, {"b.txt": "b\n"})
    health_service.on_agent_commit(workspace, "alpha", first, second)
    assert _verdict(repo.main, "alpha", second) == "pass"
    assert not (git_dir / "index.lock").exists()
    # a scratch worktree git no longer knows (its metadata gone): made again
    git(repo.main, "worktree", "remove", "--force", str(scratch))
    scratch.mkdir()
    (scratch / ".git").write_text(f"gitdir: {git_dir}\n")
    (third,) = agent_commits(alpha, {"c.txt": "c\n"})
    health_service.on_agent_commit(workspace, "alpha", second, third)
    assert _verdict(repo.main, "alpha", third) == "pass"
    assert git(scratch, "rev-parse", "HEAD").strip() == third


def test_a_scratch_that_cannot_be_made_is_an_error_event_and_status_says_so(
        tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(alpha)
    root = scratch_root(workspace.repo)
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("not a directory\n")
    (commit,) = agent_commits(alpha, {"a.txt": "a\n"})
    health_service.on_agent_commit(workspace, "alpha", None, commit)
    (error,) = events(repo, "health.error")
    assert error["data"]["notify"] is True and "scratch" in str(error["message"])
    assert _verdict(repo.main, "alpha", commit) == "error"
    status = json.loads(run_gitwarden("status", "--json", cwd=repo.main).stdout)
    assert status["agents"][0]["health"] == "error"


def test_sigkill_during_a_scratch_checkout_then_restart_checks_the_next_commit(
        tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    alpha = repo.agents["alpha"]
    # a smudge filter makes the scratch checkout slow, so that the kill lands inside it
    write(repo.main, {".gitattributes": "slow.txt filter=slow\n", "slow.txt": "slow\n"})
    commit_all(repo.main, "a slowly checked out file")
    git(alpha, "merge", "-q", "--ff-only", "main")
    git(repo.main, "config", "filter.slow.smudge", "sleep 3; cat")
    workspace = Workspace.load(repo.main)
    scratch = scratch_root(workspace.repo) / "0"
    daemon = DaemonProcess(repo.main)
    try:
        lock = wait_until(lambda: (d := scratch_git_dir(scratch)) and (d / "index.lock").exists()
                          and d / "index.lock", 30, "no checkout in the scratch", daemon)
        kill_tree(daemon.proc.pid)
        daemon.proc.wait(timeout=10)
    finally:
        daemon.stop()
    assert lock.exists()  # what a kill during `git checkout` leaves behind
    git(repo.main, "config", "filter.slow.smudge", "cat")
    restarted = DaemonProcess(repo.main)
    try:
        (commit,) = agent_commits(alpha, {"next.txt": "next\n"})
        wait_until(lambda: _verdict(repo.main, "alpha", commit), 60, "the next commit was not "
                   "checked", restarted)
        assert _verdict(repo.main, "alpha", commit) == "pass"
        assert events(repo, "health.error") == []
        assert not lock.exists()
        assert head(alpha) == commit
    finally:
        assert restarted.stop() == 0
