"""The real daemon process: one per repository, survives a changing repository and bad input, stops
promptly on signals, reloads its config, and never stops for a failing notifier."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import record_event
from tests.helpers.daemon_state import BASE, FAST, conflicts_json, events_of
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import (
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)


def test_one_daemon_per_repository_and_stale_socket_cleanup(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    daemon = DaemonProcess(repo.main)
    try:
        second = run_gitwarden("watch", cwd=repo.agents["alpha"], timeout=30)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            f"gitwarden: error: a gitwarden daemon is already running for this repository "
            f"(pid {daemon.proc.pid})"]
        sock = daemon.repo.state_dir / "daemon.sock"
        assert oct(sock.stat().st_mode & 0o777) == "0o600"
    finally:
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.stop()
    assert sock.exists()  # a killed daemon leaves its socket behind
    again = DaemonProcess(repo.main, args=("--json-log",))
    follow = subprocess.Popen([sys.executable, "-m", "gitwarden", "events", "--follow",
                               "--json", "--kind", "custom"], cwd=repo.main,
                              stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        with Store.open(again.repo) as store:
            record_event(store, "custom", "hello from a test")
            record_event(store, "agent.paused", "paused agent alpha: by a test",
                         agent="alpha", severity="warning")
        assert follow.stdout is not None
        assert json.loads(follow.stdout.readline())["message"] == "hello from a test"
        wait_until(lambda: '"kind": "agent.paused"' in again.log(), 10, "no action line", again)
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=10)
    assert again.stop() == 0
    assert not sock.exists()
    lines = [json.loads(line) for line in again.log().splitlines() if line.startswith("{")]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(line["message"].startswith("stopping (SIGTERM)") for line in lines)
    (paused,) = [line for line in lines if line.get("kind") == "agent.paused"]
    assert (paused["level"], paused["agent"], paused["undo"]) == (
        "warning", "alpha", "gitwarden resume alpha")


def test_survives_worktree_moves_deletes_renames_rebase_and_bad_config(
        tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    try:
        # a config edited into an invalid state: the last good one stays
        write(repo.main, {"gitwarden.toml": "[watch]\ndebounce = \"soon\"\n"})
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: events_of(repo.main, "config.error"), 10, "no config error", daemon)
        assert "debounce" in events_of(repo.main, "config.error")[0].message
        assert daemon.alive_and_answering()
        write(repo.main, {"gitwarden.toml": FAST})
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: events_of(repo.main, "config.reloaded"), 10, "no reload", daemon)
        # branch renamed
        git(repo.agents["alpha"], "branch", "-m", "alpha", "alpha-renamed")
        # worktree moved with git
        moved = tmp_path / "beta-moved"
        git(repo.main, "worktree", "move", str(repo.agents["beta"]), str(moved))
        # worktree directory deleted behind git's back
        subprocess.run(["rm", "-rf", str(repo.agents["gamma"])], check=True)
        # an agent stopped in the middle of a conflicting rebase
        write(moved, {"f.txt": BASE.replace("line 3\n", "beta\n")})
        git(moved, "commit", "-qam", "beta")
        write(repo.main, {"f.txt": BASE.replace("line 3\n", "main\n")})
        git(repo.main, "commit", "-qam", "main")
        git(moved, "rebase", "main", check=False)
        assert (repo.main / ".git" / "worktrees" / "beta" / "rebase-merge").exists()
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 3\n", "alpha\n")})
        report = wait_until(lambda: conflicts_json(repo.main)["overlaps"], 15,
                            "overlap lost after the survival steps", daemon)
        assert report[0]["agents"] == ["alpha", "beta"]
        daemon.request("reconcile")
        status = daemon.request("status")
        names = {a["name"]: a["path"] for a in status["agents"]}
        assert names["beta"] == str(moved)
        assert "gamma" not in names
        # a worktree added while running is picked up without a restart
        delta = repo.add_agent("delta")
        wait_until(lambda: "delta" in {a["name"] for a in daemon.request("status")["agents"]},
                   10, "new worktree not picked up", daemon)
        write(delta, {"f.txt": "delta\n"})
        wait_until(lambda: conflicts_json(repo.main)["overlaps"][0]["agents"] ==
                   ["alpha", "beta", "delta"], 10, "new agent's edit not seen", daemon)
        assert daemon.alive_and_answering()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()
    assert "Traceback" not in daemon.log()


def test_cli_bad_input_gives_one_line_errors(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    cases = [
        (["log", "--since", "soonish"], 2, "--since"),
        (["log", "--agent", "nobody"], 2, "unknown agent"),
        (["events", "-n", "0"], 2, "--limit"),
        (["events", "--since", "5 parsecs"], 2, "--since"),
    ]
    for args, code, text in cases:
        proc = run_gitwarden(*args, cwd=repo.main)
        assert proc.returncode == code, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0], (args, proc.stderr)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for command in ("conflicts", "log", "events", "watch"):
        proc = run_gitwarden(command, cwd=outside)
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1
        assert "not a git repository" in proc.stderr
    assert os.environ.get("GITWARDEN_NO_NOTIFY") == "1"


def test_notification_failures_never_stop_the_daemon(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    # a session bus address nobody listens on: every send fails
    daemon = DaemonProcess(repo.main, env={
        "GITWARDEN_NO_NOTIFY": "",
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"})
    try:
        for n in range(2):
            path = f"f{n}.txt"
            write(repo.agents["alpha"], {path: "alpha\n"})
            write(repo.agents["beta"], {path: "beta\n"})
        wait_until(lambda: len(conflicts_json(repo.main)["overlaps"]) == 2, 15, "overlaps missing",
                   daemon)
        wait_until(lambda: "cannot deliver desktop notifications" in daemon.log(), 15,
                   "failure not logged", daemon)
        assert daemon.alive_and_answering()
        assert daemon.log().count("cannot deliver desktop notifications") == 1
        assert len(events_of(repo.main, "overlap.opened")) == 2
    finally:
        assert daemon.stop() == 0
    assert "Traceback" not in daemon.log()



def test_without_a_session_bus_the_command_channel_still_tells_the_user(
        tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    received = tmp_path / "received"
    command = f'printf "%s|%s\\n" "$GITWARDEN_SEVERITY" "$GITWARDEN_TITLE" >> {received}'
    write(repo.main, {"gitwarden.toml": FAST + f"[notifications]\ncommand = '{command}'\n"})
    daemon = DaemonProcess(repo.main, env={"GITWARDEN_NO_NOTIFY": "",
                                           "DBUS_SESSION_BUS_ADDRESS": "",
                                           "PATH": os.path.dirname(sys.executable) + ":/bin"})
    try:
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 1\n", "alpha\n")})
        write(repo.agents["beta"], {"f.txt": BASE.replace("line 1\n", "beta\n")})
        wait_until(lambda: received.exists() and received.read_text(), 15,
                   "the command channel got nothing", daemon)
        assert received.read_text().startswith("warning|f.txt: edited by alpha and beta")
        wait_until(lambda: "cannot deliver desktop notifications (no session bus" in
                   daemon.log(), 15, "the missing bus is not named", daemon)
    finally:
        assert daemon.stop() == 0

def _processes_running(needle: str) -> bool:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if needle.encode() in cmdline:
                return True
    return False


def test_sigterm_stops_promptly_while_a_health_check_runs(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "[health.checks]\nslow = \"sleep 37.5\"\n"})
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.agents["alpha"], {"f.txt": "changed\n"})
        git(repo.agents["alpha"], "commit", "-qam", "change")
        wait_until(lambda: _processes_running("sleep 37.5"), 20, "health check not started",
                   daemon)
        started = time.monotonic()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()
    assert time.monotonic() - started < 25
    # the abandoned check's process group was killed with the daemon
    wait_until(lambda: not _processes_running("sleep 37.5"), 5, "health check left running")
    assert "killed 1 running health check(s) at shutdown" in daemon.log()
    assert "Traceback" not in daemon.log()


_SYS_TGKILL = {"x86_64": 234, "aarch64": 131}


def test_sigterm_delivered_to_any_thread_stops_the_daemon(tmp_path: Path) -> None:
    import ctypes

    number = _SYS_TGKILL.get(os.uname().machine)
    if number is None:
        pytest.skip("tgkill syscall number unknown on this machine")
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    daemon = DaemonProcess(repo.main)
    try:
        pid = daemon.proc.pid
        others = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
        assert others
        libc = ctypes.CDLL(None, use_errno=True)
        # the kernel may hand a process signal to any thread: here, to a worker thread
        assert libc.syscall(number, pid, others[-1], signal.SIGTERM) == 0
        assert daemon.proc.wait(timeout=15) == 0, daemon.log()
    finally:
        daemon.stop()
    assert "stopping (SIGTERM)" in daemon.log()


def test_reload_applies_a_new_agent_set(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    write(repo.agents["alpha"], {"f.txt": "alpha\n"})
    write(repo.agents["beta"], {"f.txt": "beta\n"})
    daemon = DaemonProcess(repo.main)
    try:
        wait_until(lambda: conflicts_json(repo.main)["overlaps"], 10, "no overlap", daemon)
        write(repo.main, {"gitwarden.toml": FAST + "[agents.beta]\nexclude = true\n"})
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: not conflicts_json(repo.main)["overlaps"], 10, "still overlapping",
                   daemon)
        assert [a["name"] for a in daemon.request("status")["agents"]] == ["alpha"]
    finally:
        assert daemon.stop() == 0


def test_events_follow_ends_cleanly_on_ctrl_c_and_when_the_reader_goes(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    with Store.open(locate_repo(repo.main)) as store:
        for n in range(3):
            record_event(store, "custom", f"old event {n}")
    command = [sys.executable, "-m", "gitwarden", "events", "--follow"]
    # `gitwarden events --follow | head -1`: ends once head has gone, with no new event
    follow = subprocess.Popen(command, cwd=repo.main, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=follow.stdout, stdout=subprocess.PIPE)
    assert follow.stdout is not None
    follow.stdout.close()
    first, _ = head.communicate(timeout=30)
    assert b"old event 0" in first
    assert follow.wait(timeout=10) == 0
    assert follow.stderr is not None and follow.stderr.read() == b""
    # Ctrl-C while waiting for new events
    interactive = subprocess.Popen(command, cwd=repo.main, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    assert interactive.stdout is not None
    assert ["old event" in interactive.stdout.readline() for _ in range(3)] == [True] * 3
    time.sleep(0.3)
    interactive.send_signal(signal.SIGINT)
    _, err = interactive.communicate(timeout=10)
    assert interactive.returncode == 0
    assert err == ""




def test_stale_locks_of_gitwarden_refs_are_removed_at_start(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE})
    common = locate_repo(repo.main).common_dir
    stale = common / "refs" / "gitwarden" / "checkpoints" / "alpha.lock"
    young = common / "refs" / "gitwarden" / "checkpoints" / "beta.lock"
    theirs = common / "refs" / "heads" / "alpha.lock"  # the user's branch: not ours to clear
    for path in (stale, young, theirs):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    old = time.time() - 300
    os.utime(stale, (old, old))
    os.utime(theirs, (old, old))
    daemon = DaemonProcess(repo.main)
    try:
        wait_until(lambda: not stale.exists(), 15, "stale ref lock kept", daemon)
        assert young.exists() and theirs.exists()
        (removed,) = events_of(repo.main, "lockfile.removed")
        assert str(stale) in removed.message
    finally:
        assert daemon.stop() == 0
