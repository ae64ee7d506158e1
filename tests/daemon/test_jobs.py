"""The real daemon's scheduled and triggered jobs: checkpoints, retention, stale locks, violations
and health checks of commits made while it was down."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from tests.helpers.daemon_state import BASE, FAST, events_of
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import (
    commit_all,
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)

# Each watcher runs the tests whose outcome rests on its events (edited paths, commits,
# branch moves, new worktrees); the rest run on the platform's default watcher.
EACH_WATCHER = pytest.mark.usefixtures("each_watcher")


def test_edit_outside_scope_through_the_shell_is_recorded_once(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"src/a.py": "a\n",
                                                             "docs/x.md": "x\n"})
    write(repo.main, {"gitwarden.toml": FAST + "[agents.alpha]\nscope = [\"src/**\"]\n"})
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.agents["alpha"], {"src/a.py": "in scope\n", "docs/x.md": "outside\n"})
        found = wait_until(lambda: events_of(repo.main, "violation.scope"), 10,
                           "no scope violation", daemon)
        write(repo.agents["alpha"], {"docs/x.md": "outside again\n"})
        wait_until(lambda: len(json.loads(run_gitwarden(
            "log", "--path", "docs/x.md", "--json", cwd=repo.main).stdout)) >= 2, 10,
            "second write not logged", daemon)
        assert [(e.agent, e.path) for e in events_of(repo.main, "violation.scope")] == \
            [("alpha", "docs/x.md")]
        assert found[0].data["notify"] is True
        assert events_of(repo.main, "agent.paused") == []  # pausing is opt-in
    finally:
        assert daemon.stop() == 0


@EACH_WATCHER
def test_scheduled_checkpoints_use_the_changed_paths(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "[agents.alpha]\ncheckpoint_interval = \"1s\"\n"})
    daemon = DaemonProcess(repo.main)
    try:
        start = wait_until(lambda: [e for e in events_of(repo.main, "checkpoint.created")
                                    if e.agent == "alpha"], 10, "no start checkpoint", daemon)
        assert start[0].data["full"] is True
        write(repo.agents["alpha"], {"f.txt": "edited\n", "new.txt": "new\n"})
        scheduled = wait_until(lambda: [e for e in events_of(repo.main, "checkpoint.created")
                                        if e.agent == "alpha" and not e.data["full"]], 15,
                               "no scheduled checkpoint", daemon)
        assert scheduled[0].data["paths"] == ["f.txt", "new.txt"]
        tree = git(repo.main, "ls-tree", "-r", "--name-only", scheduled[0].data["commit"])
        assert "new.txt" in tree.split()
        # the agent's index and HEAD were left alone
        assert git(repo.agents["alpha"], "status", "--porcelain").splitlines() == \
            [" M f.txt", "?? new.txt"]
    finally:
        assert daemon.stop() == 0


def test_stale_locks_are_released_right_after_start_and_their_holders_told(
        tmp_path: Path) -> None:
    from gitwarden.coordination.locks import acquire, list_locks

    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    # default intervals (reconcile 60 s, sweep 30 s): only the run at start can release them
    write(repo.main, {"gitwarden.toml": FAST})
    gone = subprocess.Popen(["true"])
    gone.wait()
    with Store.open(locate_repo(repo.main)) as store:
        acquire(store, "beta", ["keep/**"], ttl=3600, reason="still valid")
        acquire(store, "alpha", ["f.txt"], ttl=0.05, reason="short")
        acquire(store, "beta", ["docs/**"], ttl=3600, pid=gone.pid, reason="dead holder")
        assert len(list_locks(store)) == 3
    time.sleep(0.1)  # alpha's time-to-live runs out while no daemon runs
    daemon = DaemonProcess(repo.main)
    try:
        def remaining() -> list[str]:
            with Store.open(daemon.repo) as store:
                return [lock.pattern for lock in list_locks(store)]

        wait_until(lambda: remaining() == ["keep/**"], 10, "stale locks kept", daemon)
        released = {e.agent: e for e in events_of(repo.main, "lock.stale-released")}
        assert "time-to-live expired" in released["alpha"].message
        assert "notify" not in released["alpha"].data  # a TTL running out is the normal end
        assert f"process {gone.pid} is gone" in released["beta"].message
        assert released["beta"].data["notify"] is True
        assert "released stale lock 'docs/**' of beta" in daemon.log()
    finally:
        assert daemon.stop() == 0


def test_violation_pauses_the_agent_only_when_opted_in(tmp_path: Path) -> None:
    from gitwarden.coordination.pauses import agent_processes, paused_agents
    from gitwarden.coordination.processes import process_state

    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"src/a.py": "a\n",
                                                                     "docs/x.md": "x\n"})
    write(repo.main, {"gitwarden.toml": FAST + "pause_on_violation = true\n"
                      "[agents.alpha]\nscope = [\"src/**\"]\n"
                      "[agents.beta]\nscope = [\"src/**\"]\npolicy = \"notify\"\n"})
    daemon = DaemonProcess(repo.main)
    runner = subprocess.Popen([sys.executable, "-m", "gitwarden", "run", "--agent", "alpha",
                               "--", "sleep", "60"], cwd=repo.main)
    try:
        def registered() -> int | None:
            with Store.open(daemon.repo) as store:
                found = agent_processes(store, "alpha")
            return found[0].pid if found else None

        pid = wait_until(registered, 15, "process not registered", daemon)
        write(repo.agents["beta"], {"docs/x.md": "beta, outside\n"})
        wait_until(lambda: events_of(repo.main, "violation.scope"), 10, "no violation", daemon)
        write(repo.agents["alpha"], {"docs/x.md": "alpha, outside\n"})
        wait_until(lambda: process_state(pid) == "T", 10, "alpha's process not stopped",
                   daemon)
        with Store.open(daemon.repo) as store:
            paused = paused_agents(store)
        assert list(paused) == ["alpha"]  # beta's policy is notify
        assert paused["alpha"].by == "daemon"
        assert "docs/x.md" in paused["alpha"].reason
        [event] = events_of(repo.main, "agent.paused")
        assert event.agent == "alpha" and event.data["notify"] is True
        assert run_gitwarden("resume", "alpha", cwd=repo.main).returncode == 0
        wait_until(lambda: process_state(pid) in ("R", "S"), 10, "not continued", daemon)
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=15)
        assert daemon.stop() == 0


def _verdicts_on(main: Path, agent: str, commit: str) -> list[Any]:
    from gitwarden.health import table as health_state

    with Store.open(locate_repo(main)) as store:
        return [v for v in health_state.verdict_history(store, agent) if v.commit == commit]


@EACH_WATCHER
def test_commits_made_while_the_daemon_was_down_are_checked_at_start(tmp_path: Path) -> None:
    from tests.helpers.health_repo import setup_repo

    repo = setup_repo(tmp_path, agents=("alpha",))
    alpha = repo.agents["alpha"]
    write(alpha, {"one.txt": "1\n"})
    overnight = commit_all(alpha, "committed while nothing watched")
    daemon = DaemonProcess(repo.main)
    try:
        verdicts = wait_until(lambda: _verdicts_on(repo.main, "alpha", overnight), 30,
                              "the HEAD found at start was not checked", daemon)
        assert [(v.check, v.trigger, v.verdict) for v in verdicts] == [("test", "commit", "pass")]
        # an agent that appears while running is checked too
        repo.add_agent("beta")
        beta_head = git(repo.agents["beta"], "rev-parse", "HEAD").strip()
        wait_until(lambda: _verdicts_on(repo.main, "beta", beta_head), 30,
                   "the new agent's HEAD was not checked", daemon)
    finally:
        assert daemon.stop() == 0
    # a restart does not check a HEAD that already has its verdicts again
    daemon = DaemonProcess(repo.main)
    try:
        write(alpha, {"two.txt": "2\n"})
        later = commit_all(alpha, "committed while watched")
        wait_until(lambda: _verdicts_on(repo.main, "alpha", later), 30,
                   "the new commit was not checked", daemon)
        assert len(_verdicts_on(repo.main, "alpha", overnight)) == 1
        assert len(_verdicts_on(repo.main, "beta", beta_head)) == 1
    finally:
        assert daemon.stop() == 0
    assert daemon.log().count("no health verdict yet") == 2


def _checkpoint_count(main: Path, agent: str) -> int:
    proc = run_gitwarden("checkpoints", agent, "--json", "-n", "100", cwd=main)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    items = data["checkpoints"] if isinstance(data, dict) else data
    return len(items)


def test_checkpoint_retention_is_applied_at_start(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "[checkpoints]\nkeep = 2\n"})
    for number in range(5):
        write(repo.agents["alpha"], {"f.txt": f"version {number}\n"})
        proc = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
        assert proc.returncode == 0, proc.stderr
    assert _checkpoint_count(repo.main, "alpha") == 5
    daemon = DaemonProcess(repo.main)
    try:
        wait_until(lambda: events_of(repo.main, "checkpoint.pruned"), 20,
                   "retention was not applied at start", daemon)
        assert _checkpoint_count(repo.main, "alpha") == 2
        pruned = events_of(repo.main, "checkpoint.pruned")
        assert [(e.agent, e.data["dropped"], e.data["kept"]) for e in pruned] == \
            [("alpha", 3, 2)]
        assert "pruned 3 checkpoint(s) of alpha, kept 2" in daemon.log()
    finally:
        assert daemon.stop() == 0


def test_retention_runs_on_a_schedule_and_keeps_live_state(tmp_path: Path) -> None:
    from gitwarden.coordination.requests import add_request, list_requests
    from gitwarden.store.events import EventKind, list_events, record_event

    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "[retention]\nmax_age = \"1h\"\n"
                                              "interval = \"1s\"\n"})
    with Store.open(locate_repo(repo.main)) as store:
        for number in range(300):
            record_event(store, EventKind.CHECKPOINT_CREATED, f"old {number}",
                         ts=time.time() - 7200)
        add_request(store, "alpha", "alpha", "still open")
    daemon = DaemonProcess(repo.main)
    try:
        wait_until(lambda: events_of(repo.main, "state.pruned"), 30,
                   "retention did not run", daemon)
        with Store.open(locate_repo(repo.main)) as store:
            assert not [e for e in list_events(store) if e.message.startswith("old ")]
            assert [r.text for r in list_requests(store)] == ["still open"]
        pruned = events_of(repo.main, "state.pruned")[0]
        assert pruned.data["removed"]["events"] == 300
        memory = daemon.request("status")["memory"]
        assert memory["agents"] == 1 and memory["health_heads"] <= 1
        assert 0 <= memory["libgit2_cache_bytes"] <= 16 * 2**20
    finally:
        assert daemon.stop() == 0


def test_a_big_checkpoint_is_packed_right_away(tmp_path: Path) -> None:
    from gitwarden.git.repack import count_objects

    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "[retention]\nrepack_loose_objects = 100\n"
                                              "repack_interval = \"1h\"\n"})
    common = locate_repo(repo.main).common_dir
    git(repo.main, "repack", "-adq")
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.agents["alpha"], {f"gen/{n}.txt": f"generated {n}\n" for n in range(300)})
        daemon.request("flush")
        daemon.request("checkpoint")

        def packed() -> bool:
            # A full checkpoint writes loose objects that the repack then rolls up; an
            # incremental one (from a recorded base) writes them as one pack itself.
            tip = git(repo.main, "rev-parse", "-q", "--verify",
                      "refs/gitwarden/checkpoints/alpha", check=False).strip()
            listed = git(repo.main, "ls-tree", "--name-only", tip, "gen/299.txt",
                         check=False).strip() if tip else ""
            return listed == "gen/299.txt" and count_objects(common).loose < 100

        wait_until(packed, 30, "the checkpoint's objects were not packed", daemon)
        tip = git(repo.main, "rev-parse", "refs/gitwarden/checkpoints/alpha").strip()
        assert git(repo.main, "show", f"{tip}:gen/299.txt") == "generated 299\n"
        assert "missing" not in git(repo.main, "fsck", "--no-dangling")
    finally:
        assert daemon.stop() == 0


def test_paths_of_a_skipped_checkpoint_stay_pending(tmp_path: Path) -> None:
    # A checkpoint skipped (unmerged index entries, no operation in progress) is not in the
    # chain: the paths it claimed were lost, and the next checkpoint from the recorded base
    # (`gitwarden checkpoint` through the daemon) left the change out.
    from gitwarden.config import Config
    from gitwarden.daemon.jobs import Jobs
    from gitwarden.daemon.pending import PendingPaths

    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE})
    alpha = repo.agents["alpha"]
    blob = git(alpha, "rev-parse", "HEAD:f.txt").strip()
    git(alpha, "rm", "-q", "--cached", "f.txt")
    git(alpha, "update-index", "--index-info",
        input_text="".join(f"100644 {blob} {stage}\tf.txt\n" for stage in (1, 2, 3)))
    write(alpha, {"f.txt": "edited\n"})
    pending = PendingPaths()
    jobs = Jobs(locate_repo(repo.main), Config, pending)
    try:
        pending.add("alpha", {"f.txt"})
        jobs.checkpoint("alpha")
        assert pending.take("alpha") == {"f.txt"}
    finally:
        assert jobs.close()
