"""Pause, resume and the kill switch, with real processes started by `gitwarden run`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

from gitwarden.coordination.lock_rules import RESOURCE
from gitwarden.coordination.locks import list_locks
from gitwarden.coordination.pauses import agent_processes, kill_switch, paused_agents
from gitwarden.coordination.processes import is_alive, process_start_time, process_state
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from tests.helpers.gitrepo import RepoWithAgents, make_repo_with_agents, run_gitwarden

T = TypeVar("T")
LOOP = "import time\nwhile True: time.sleep(0.02)\n"


@pytest.fixture()
def repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path, names=("alpha", "beta", "gamma"))


def _eventually(probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def _start(repo: RepoWithAgents, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gitwarden", "run", *args], cwd=repo.main,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _registered_pid(repo: RepoWithAgents, agent: str) -> int:
    def probe() -> int | None:
        with Store.open(locate_repo(repo.main)) as store:
            found = agent_processes(store, agent)
        return found[0].pid if found else None
    return _eventually(probe)


def test_pause_stops_a_registered_process_and_resume_continues_it(
        repo: RepoWithAgents) -> None:
    runner = _start(repo, "--agent", "alpha", "--", sys.executable, "-c",
                    LOOP + "")
    try:
        pid = _registered_pid(repo, "alpha")
        assert process_state(pid) in ("R", "S")
        paused = run_gitwarden("pause", "alpha", "--reason", "tests", cwd=repo.main)
        assert paused.returncode == 0, paused.stderr
        _eventually(lambda: process_state(pid) == "T")
        resumed = run_gitwarden("resume", "alpha", cwd=repo.main)
        assert resumed.returncode == 0, resumed.stderr
        _eventually(lambda: process_state(pid) in ("R", "S"))
        # the command ran in alpha's worktree as alpha
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"GITWARDEN_AGENT=alpha" in environ
        assert os.readlink(f"/proc/{pid}/cwd") == str(repo.agents["alpha"].resolve())
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=15)
    with Store.open(locate_repo(repo.main)) as store:
        assert agent_processes(store) == []


def test_stop_pauses_every_agent_fast_and_resume_all(repo: RepoWithAgents) -> None:
    started = time.monotonic()
    result = run_gitwarden("stop", "--reason", "runaway agent", cwd=repo.main)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    print(f"gitwarden stop: {elapsed * 1000:.0f} ms for the whole process")
    assert elapsed < 5.0  # the product goal is < 1 s; generous margin on a loaded machine
    with Store.open(locate_repo(repo.main)) as store:
        assert sorted(paused_agents(store)) == ["alpha", "beta", "gamma"]
        assert kill_switch(store) is not None
        assert list_events(store, kinds=["killswitch.engaged"])[0].data["notify"] is True
    state = (repo.agents["beta"] / ".gitwarden" / "STATE.md").read_text()
    assert "KILL SWITCH ENGAGED" in state and "runaway agent" in state
    one = run_gitwarden("resume", "alpha", cwd=repo.main)
    assert "kill switch is still engaged" in one.stdout
    assert run_gitwarden("resume", "--all", cwd=repo.main).returncode == 0
    with Store.open(locate_repo(repo.main)) as store:
        assert paused_agents(store) == {} and kill_switch(store) is None


def test_run_lock_is_released_when_the_holder_is_killed(repo: RepoWithAgents) -> None:
    holder = _start(repo, "--agent", "alpha", "--lock", "tests", "--", "sleep", "60")
    child = _registered_pid(repo, "alpha")
    with Store.open(locate_repo(repo.main)) as store:
        (lock,) = list_locks(store, kind=RESOURCE)
        assert lock.agent == "alpha" and lock.pattern == "tests"
    busy = run_gitwarden("run", "--agent", "beta", "--lock", "tests", "--wait", "0s", "--",
                         "true", cwd=repo.main)
    assert busy.returncode == 1 and "timed out waiting for 'tests'" in busy.stderr
    holder.kill()
    holder.wait(timeout=10)
    _eventually(lambda: process_state(child) in (None, "Z"))  # died with its runner
    second = run_gitwarden("run", "--agent", "beta", "--lock", "tests", "--wait", "10s", "--",
                           sys.executable, "-c", "print('tests ran')", cwd=repo.main)
    assert second.returncode == 0, second.stderr
    assert "tests ran" in second.stdout
    with Store.open(locate_repo(repo.main)) as store:
        assert list_locks(store, kind=RESOURCE) == []


def test_run_and_pause_bad_input(repo: RepoWithAgents) -> None:
    cases = [("run",), ("run", "--agent", "nobody", "--", "true"), ("pause",),
             ("pause", "nobody"), ("resume", "alpha", "--all"),
             ("run", "--", "definitely-not-a-command-xyz")]
    for args in cases:
        result = run_gitwarden(*args, cwd=repo.main)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    exit_code = run_gitwarden("run", "--", sys.executable, "-c", "raise SystemExit(7)",
                              cwd=repo.main)
    assert exit_code.returncode == 7


def test_run_in_a_deleted_worktree_says_so(repo: RepoWithAgents) -> None:
    import shutil

    victim = repo.add_agent("victim")
    shutil.rmtree(victim)
    result = run_gitwarden("run", "--agent", "victim", "--", "true", cwd=repo.main)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"gitwarden: error: worktree missing: {victim}"
    with Store.open(locate_repo(repo.main)) as store:
        assert agent_processes(store) == []


def test_a_start_time_recorded_in_boot_ticks_still_identifies_the_process() -> None:
    """Locks and processes recorded before psutil carry clock ticks since boot."""
    me = os.getpid()
    ticks = round((psutil.Process(me).create_time() - psutil.boot_time())
                  * os.sysconf("SC_CLK_TCK"))
    assert is_alive(me, ticks)
    assert not is_alive(me, ticks + 500)
    assert is_alive(me, process_start_time(me))
    assert not is_alive(me, (process_start_time(me) or 0) + 1)
