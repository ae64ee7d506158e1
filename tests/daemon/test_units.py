"""Daemon building blocks without the process: notification gate and sender, control
socket, activity log, watcher."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path

import pytest

from gitwarden.config import NotificationConfig
from gitwarden.control.socket import ControlServer, DaemonLock, daemon_running, request
from gitwarden.daemon.inotify_watcher import DirectoryWatcher
from gitwarden.daemon.notify import NotificationGate, SafeSender
from gitwarden.daemon.watcher import FsEvent, WatchLimitError
from gitwarden.errors import GitwardenError
from gitwarden.git.repository import locate_repo
from gitwarden.store.activity import list_activity, prune_activity, record_activity
from gitwarden.store.db import Store
from tests.helpers.gitrepo import make_repo


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_gate_deduplicates_rate_limits_and_filters_severity() -> None:
    clock = _Clock()
    gate = NotificationGate(NotificationConfig(rate_limit=60, max_per_minute=3), clock)
    assert gate.allow("a", "warning")
    assert not gate.allow("a", "warning")  # same key inside rate_limit
    assert not gate.allow("b", "info")  # below min_severity (warning)
    assert gate.allow("b", "error")
    assert gate.allow("c", "warning")
    assert not gate.allow("d", "warning")  # max_per_minute reached
    clock.now += 61
    assert gate.allow("a", "warning")
    quiet = NotificationGate(NotificationConfig(quiet=True), clock)
    assert not quiet.allow("x", "error")
    off = NotificationGate(NotificationConfig(enabled=False), clock)
    assert not off.allow("x", "error")


class _Raising:
    def send(self, title: str, body: str) -> bool:
        raise RuntimeError("no D-Bus")


class _Hanging:
    def __init__(self) -> None:
        self.release = threading.Event()

    def send(self, title: str, body: str) -> bool:
        self.release.wait(10)
        return True


def test_sender_never_raises_or_blocks_and_logs_failure_once(
        caplog: pytest.LogCaptureFixture) -> None:
    sender = SafeSender(_Raising(), timeout=1)
    with caplog.at_level(logging.WARNING, logger="gitwarden.notify"):
        assert sender.send("t", "b") is False
        assert sender.send("t", "b") is False
    assert len([r for r in caplog.records if "cannot deliver" in r.message]) == 1
    hanging = _Hanging()
    slow = SafeSender(hanging, timeout=0.2)
    start = time.monotonic()
    assert slow.send("t", "b") is False
    assert time.monotonic() - start < 5
    hanging.release.set()
    slow.close()
    sender.close()


def test_control_socket_single_instance_and_stale_cleanup(tmp_path: Path) -> None:
    repo = locate_repo(make_repo(tmp_path))
    state = repo.ensure_state_dir()
    assert not daemon_running(repo)
    lock = DaemonLock(state)
    lock.acquire()
    with pytest.raises(GitwardenError, match="already running"):
        DaemonLock(state).acquire()
    server = ControlServer(state, lambda req: {"ok": True, "echo": req.get("command")})
    server.start()
    try:
        assert request(repo, "hello")["echo"] == "hello"
        assert daemon_running(repo)
        assert oct(os.stat(server.path).st_mode & 0o777) == "0o600"
    finally:
        server.stop()
    lock.release()
    # a socket file nobody listens on (a killed daemon) is removed by the next client
    import socket

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(server.path))
    stale.close()
    assert server.path.exists()
    with pytest.raises(GitwardenError, match="no gitwarden daemon"):
        request(repo, "ping")
    assert not server.path.exists()


def test_activity_log_filters_and_bounded_retention(tmp_path: Path) -> None:
    repo = locate_repo(make_repo(tmp_path))
    with Store.open(repo) as store:
        record_activity(store, [(100.0, "alpha", "src/a.py", "write"),
                                (200.0, "beta", "src/a.py", "write"),
                                (300.0, "beta", "src/sub/b.py", "create"),
                                (400.0, "alpha", "srcx.py", "delete")])
        assert [a.agent for a in list_activity(store, path="src/a.py")] == ["alpha", "beta"]
        assert [a.path for a in list_activity(store, path="src")] == \
            ["src/a.py", "src/a.py", "src/sub/b.py"]
        assert [a.ts for a in list_activity(store, agent="beta", since=250)] == [300.0]
        assert prune_activity(store, older_than=150.0, max_rows=2) == 2
        assert [a.ts for a in list_activity(store)] == [300.0, 400.0]


def test_watcher_reports_events_and_enforces_the_watch_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITWARDEN_WATCH_LIMIT", "2")
    events: queue.Queue[FsEvent] = queue.Queue()
    watcher = DirectoryWatcher(events.put)
    watcher.start()
    try:
        for name in ("a", "b", "c"):
            (tmp_path / name).mkdir()
        assert watcher.add(str(tmp_path / "a"))
        assert watcher.add(str(tmp_path / "b"))
        with pytest.raises(WatchLimitError):
            watcher.add(str(tmp_path / "c"))
        monkeypatch.delenv("GITWARDEN_WATCH_LIMIT")
        (tmp_path / "a" / "f.txt").write_text("x")
        seen = {(e.path, e.kind) for e in _drain(events, 2)}
        assert (str(tmp_path / "a" / "f.txt"), "create") in seen
        assert (str(tmp_path / "a" / "f.txt"), "write") in seen
        assert watcher.remove_tree(str(tmp_path)) == 2
        assert watcher.count == 0
    finally:
        watcher.stop()


def _drain(events: queue.Queue[FsEvent], count: int) -> list[FsEvent]:
    got = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        try:
            got.append(events.get(timeout=0.1))
        except queue.Empty:
            continue
    return got


def test_pause_for_violation_is_opt_in_and_respects_pauses_and_the_kill_switch(
        tmp_path: Path) -> None:
    from dataclasses import replace

    from gitwarden.config import Config, WatchConfig
    from gitwarden.coordination.pauses import (
        engage_kill_switch,
        pause_agent,
        paused_agents,
        resume_all,
    )
    from gitwarden.daemon.jobs import Jobs
    from gitwarden.daemon.pending import PendingPaths
    from gitwarden.store.events import list_events
    from tests.helpers.gitrepo import make_repo_with_agents

    agents = make_repo_with_agents(tmp_path, ("alpha", "beta"))
    repo = locate_repo(agents.main)
    config = Config()
    hooks = Jobs(repo, lambda: config, PendingPaths())
    store = Store.open(repo)
    try:
        hooks.pause_for_violation("alpha", "alpha changed x outside its scope")
        assert hooks.close()
        assert paused_agents(store) == {}  # off by default
        config = replace(config, watch=WatchConfig(pause_on_violation=True))
        pause_agent(store, "alpha", "manual", by="user")
        hooks._pause_for_violation("alpha", "alpha changed x outside its scope")
        assert paused_agents(store)["alpha"].reason == "manual"  # an existing pause stays
        resume_all(store)
        engage_kill_switch(store, [], "halt", by="user")
        hooks._pause_for_violation("beta", "beta changed y outside its scope")
        assert paused_agents(store) == {}  # the kill switch holds automatic actions
        resume_all(store)
        hooks._pause_for_violation("beta", "beta changed y outside its scope")
        assert paused_agents(store)["beta"].by == "daemon"
        assert [e.agent for e in list_events(store, kinds=["agent.paused"])] == ["beta"]
    finally:
        store.close()


def test_the_daemons_memory_of_heads_and_violations_is_bounded(tmp_path: Path) -> None:
    from gitwarden.config import Config, HealthCheck, HealthConfig
    from gitwarden.daemon.jobs import MAX_HEALTH_HEADS, Jobs
    from gitwarden.daemon.pending import PendingPaths
    from tests.helpers.gitrepo import make_repo_with_agents

    agents = make_repo_with_agents(tmp_path, ("alpha",))
    config = Config(health=HealthConfig(checks=(HealthCheck("quick", "true"),)))
    pending = PendingPaths()
    jobs = Jobs(locate_repo(agents.main), lambda: config, pending)
    # the agent's health job is "running" and never finishes: each new head just becomes due
    jobs._submit = lambda *_args: object()  # type: ignore[assignment,method-assign,misc,return-value]
    heads = [f"{n:040x}" for n in range(MAX_HEALTH_HEADS + 500)]
    for head in heads:
        jobs.catch_up_health("alpha", head)
        jobs._health_due.clear()  # as if that head's check had been taken up
    assert jobs.memory_sizes()["health_heads"] == MAX_HEALTH_HEADS
    jobs.catch_up_health("alpha", heads[-1])  # remembered: not checked twice
    assert "alpha" not in jobs._health_due
    jobs.catch_up_health("alpha", heads[0])  # forgotten: asked again (the store decides)
    assert jobs._health_due["alpha"].new_head == heads[0]
    pending.add("alpha", {"a.py"})
    jobs.forget_agent("alpha")
    assert jobs.memory_sizes()["health_heads"] == 0
    assert pending.take("alpha") is None
    assert jobs.close()
