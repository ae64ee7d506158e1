"""The real daemon process on real worktrees, with a real D-Bus session bus."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events, record_event
from tests.daemonproc import DaemonProcess, wait_until
from tests.dbus_notifications import session_bus
from tests.gitrepo import (
    RepoWithAgents,
    commit_all,
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)

BASE = "".join(f"line {i}\n" for i in range(1, 31))
FAST = "[watch]\ndebounce = \"50ms\"\n"


def _conflicts(cwd: Path) -> dict[str, Any]:
    proc = run_gitwarden("conflicts", "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _events(main: Path, kind: str) -> list[Any]:
    with Store.open(locate_repo(main)) as store:
        return list_events(store, kinds=[kind])


def test_same_file_in_two_worktrees_notifies_once_over_dbus_and_resolves(
        tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"),
                                 files={"src/app.py": BASE, "README.md": "hi\n"})
    write(repo.main, {"gitwarden.toml": FAST})
    with session_bus(tmp_path / "bus") as (address, server):
        daemon = DaemonProcess(repo.main, env={"DBUS_SESSION_BUS_ADDRESS": address,
                                               "GITWARDEN_NO_NOTIFY": ""})
        try:
            write(repo.agents["alpha"], {"src/app.py": BASE.replace("line 7\n", "alpha\n")})
            write(repo.agents["gamma"], {"README.md": "gamma only\n"})
            wait_until(lambda: _events(repo.main, "overlap.opened") == [] and
                       daemon.request("status")["agents"][0]["changed"] == 1, 10,
                       "alpha's edit not tracked", daemon)
            write(repo.agents["beta"], {"src/app.py": BASE.replace("line 7\n", "beta\n")})
            report = wait_until(lambda: _conflicts(repo.main)["overlaps"], 10,
                                "no overlap reported", daemon)
            assert len(report) == 1
            overlap = report[0]
            assert overlap["path"] == "src/app.py"
            assert overlap["agents"] == ["alpha", "beta"]
            assert overlap["first"] == "alpha"
            assert overlap["classification"] == "conflict"
            assert overlap["hunks"][0]["alpha"] == [7, 7]
            received = server.wait_for(1, 10)
            assert len(received) == 1
            note = received[0]
            assert "src/app.py" in note.summary
            assert "alpha" in note.summary and "beta" in note.summary
            assert "conflict" in note.body.lower()
            # more edits to the same overlapping file do not notify again
            write(repo.agents["beta"], {"src/app.py": BASE.replace("line 7\n", "beta2\n")})
            daemon.request("flush")
            # an event recorded by another process with notify=true is delivered too
            with Store.open(daemon.repo) as store:
                record_event(store, "health-failed", "build broke", severity="error",
                             data={"notify": True, "title": "health check failed",
                                   "body": "alpha broke the build"})
            received = server.wait_for(2, 10)
            assert [n.summary for n in received][1:] == ["health check failed"]
            # reverting one edit resolves the overlap
            git(repo.agents["beta"], "checkout", "--", "src/app.py")
            wait_until(lambda: not _conflicts(repo.main)["overlaps"], 10,
                       "overlap not resolved", daemon)
            resolved = _events(repo.main, "overlap.resolved")
            assert [e.path for e in resolved] == ["src/app.py"]
            assert len(server.notifications()) == 2
            log = run_gitwarden("log", "--path", "src/app.py", "--json", cwd=repo.main)
            rows = json.loads(log.stdout)
            assert {r["agent"] for r in rows} == {"alpha", "beta"}
        finally:
            code = daemon.stop()
        assert code == 0, daemon.log()


def test_clean_merge_overlap_and_conflicts_without_daemon(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    write(repo.agents["alpha"], {"f.txt": BASE.replace("line 2\n", "A\n")})
    write(repo.agents["beta"], {"f.txt": BASE.replace("line 25\n", "B\n")})
    offline = _conflicts(repo.main)
    assert offline["source"] == "git"
    assert [(o["path"], o["classification"]) for o in offline["overlaps"]] == \
        [("f.txt", "clean-merge")]
    daemon = DaemonProcess(repo.main)
    try:
        live = wait_until(lambda: _conflicts(repo.main)["overlaps"], 10, "no overlap", daemon)
        assert live[0]["classification"] == "clean-merge"
        assert _events(repo.main, "overlap.opened")[0].data["body"].startswith("Clean merge")
        # the classification follows the edits
        write(repo.agents["beta"], {"f.txt": BASE.replace("line 2\n", "B\n")})
        wait_until(lambda: _conflicts(repo.main)["overlaps"][0]["classification"] ==
                   "conflict", 10, "not reclassified", daemon)
        assert "max_user_watches" not in daemon.log()  # no watch-limit hint when not needed
    finally:
        assert daemon.stop() == 0


def _two_agents_reconciled_every_second(tmp_path: Path) -> tuple[RepoWithAgents, DaemonProcess]:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "reconcile_interval = \"1s\"\n"})
    return repo, DaemonProcess(repo.main)


def test_reconcile_repairs_missed_events(tmp_path: Path) -> None:
    repo, daemon = _two_agents_reconciled_every_second(tmp_path)
    try:
        before = daemon.request("status")["watches"]
        for name in ("alpha", "beta"):
            status = daemon.request("unwatch", agent=name)
            assert status["ok"]
        assert daemon.request("status")["watches"] == before - 2  # two worktree roots
        write(repo.agents["alpha"], {"f.txt": "alpha\n"})
        write(repo.agents["beta"], {"f.txt": "beta\n"})
        # the periodic reconcile job (every 1s) finds the edits no watch reported
        wait_until(lambda: _conflicts(repo.main)["overlaps"], 15, "reconcile missed it",
                   daemon)
        assert "repaired missed changes" in daemon.log()
    finally:
        assert daemon.stop() == 0


def test_reconcile_skips_quiet_agents_but_sees_git_only_changes(tmp_path: Path) -> None:
    repo, daemon = _two_agents_reconciled_every_second(tmp_path)
    try:
        write(repo.agents["alpha"], {"f.txt": "alpha\n"})
        write(repo.agents["beta"], {"f.txt": "beta\n"})
        wait_until(lambda: _conflicts(repo.main)["overlaps"], 10, "no overlap", daemon)
        # quiet agents are not recomputed by the periodic reconcile
        wait_until(lambda: daemon.request("status")["reconcile"] ==
                   {"full": False, "recomputed": 0, "skipped": 2}, 10, "nothing skipped",
                   daemon)
        # a change made by git alone, with no file event: the index changed
        git(repo.agents["alpha"], "update-index", "--assume-unchanged", "f.txt")
        wait_until(lambda: not _conflicts(repo.main)["overlaps"], 10,
                   "index-only change missed", daemon)
        assert "repaired missed changes of alpha" in daemon.log()
    finally:
        assert daemon.stop() == 0


def test_watch_limit_falls_back_to_polling(tmp_path: Path) -> None:
    files = {f"d{i}/sub/f.txt": "x\n" for i in range(6)}
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={**files, "f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "poll_interval = \"300ms\"\n"})
    # the adapter refuses the 20th watch with ENOSPC, like a full fs.inotify.max_user_watches
    daemon = DaemonProcess(repo.main, env={"GITWARDEN_WATCH_LIMIT": "20"})
    try:
        limit_events = wait_until(lambda: _events(repo.main, "watch.limit"), 10,
                                  "no watch-limit event", daemon)
        assert "max_user_watches" in limit_events[0].message
        assert "fs.inotify.max_user_watches" in daemon.log()  # the hint, where it is needed
        assert limit_events[0].data["notify"] is True
        status = daemon.request("status")
        assert "polling" in {a["watching"] for a in status["agents"]}
        write(repo.agents["alpha"], {"f.txt": "alpha\n"})
        write(repo.agents["beta"], {"f.txt": "beta\n"})
        wait_until(lambda: _conflicts(repo.main)["overlaps"], 10, "polling missed it",
                   daemon)
        assert daemon.alive_and_answering()
    finally:
        assert daemon.stop() == 0


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
        assert follow.stdout is not None
        assert json.loads(follow.stdout.readline())["message"] == "hello from a test"
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=10)
    assert again.stop() == 0
    assert not sock.exists()
    lines = [json.loads(line) for line in again.log().splitlines() if line.startswith("{")]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(line["message"].startswith("stopping (SIGTERM)") for line in lines)


def test_survives_worktree_moves_deletes_renames_rebase_and_bad_config(
        tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    try:
        # a config edited into an invalid state: the last good one stays
        write(repo.main, {"gitwarden.toml": "[watch]\ndebounce = \"soon\"\n"})
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: _events(repo.main, "config.error"), 10, "no config error", daemon)
        assert "debounce" in _events(repo.main, "config.error")[0].message
        assert daemon.alive_and_answering()
        write(repo.main, {"gitwarden.toml": FAST})
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: _events(repo.main, "config.reloaded"), 10, "no reload", daemon)
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
        report = wait_until(lambda: _conflicts(repo.main)["overlaps"], 15,
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
        wait_until(lambda: _conflicts(repo.main)["overlaps"][0]["agents"] ==
                   ["alpha", "beta", "delta"], 10, "new agent's edit not seen", daemon)
        assert daemon.alive_and_answering()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()
    assert "Traceback" not in daemon.log()


@pytest.fixture
def memory_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on tmpfs when there is one: creating 120,000 files there takes about a
    second instead of half a minute on a VM disk, and the events come faster, not fewer."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="gitwarden-storm-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_event_storm_stays_up_with_bounded_memory(memory_dir: Path) -> None:
    repo = make_repo_with_agents(memory_dir, ("alpha", "beta"),
                                 files={"f.txt": BASE, ".gitignore": "node_modules/\n"})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    try:
        storms = [subprocess.Popen([sys.executable, "-c", _STORM, str(repo.agents["alpha"]),
                                    part]) for part in ("ignored", "tracked")]
        write(repo.agents["alpha"], {"f.txt": "alpha\n"})
        write(repo.agents["beta"], {"f.txt": "beta\n"})
        assert [storm.wait(timeout=180) for storm in storms] == [0, 0]
        wait_until(lambda: _conflicts(repo.main)["overlaps"], 60, "overlap lost in storm",
                   daemon)
        status = wait_until(lambda: (s := daemon.request("status"))["agents"][0]["changed"]
                            >= 20_001 and s, 60, "storm files not tracked", daemon)
        assert status["watches"] < 200  # node_modules is never watched
        assert daemon.alive_and_answering()
        assert daemon.rss_peak_kib() < 300 * 1024
    finally:
        assert daemon.stop() == 0


_STORM = """
import os, sys
root, part = sys.argv[1], sys.argv[2]
ignored = part == "ignored"
top, count, per_dir = ("node_modules", 100_000, 1000) if ignored else ("gen", 20_000, 2000)
flags = os.O_CREAT | os.O_WRONLY | os.O_TRUNC
for i in range(count):
    d = os.path.join(root, top, f"p{i // per_dir}")
    if i % per_dir == 0:
        os.makedirs(d, exist_ok=True)
    fd = os.open(os.path.join(d, f"f{i}.js"), flags, 0o644)
    os.write(fd, b"x")
    os.close(fd)
"""


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


def test_edit_outside_scope_through_the_shell_is_recorded_once(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"src/a.py": "a\n",
                                                             "docs/x.md": "x\n"})
    write(repo.main, {"gitwarden.toml": FAST + "[agents.alpha]\nscope = [\"src/**\"]\n"})
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.agents["alpha"], {"src/a.py": "in scope\n", "docs/x.md": "outside\n"})
        found = wait_until(lambda: _events(repo.main, "violation.scope"), 10,
                           "no scope violation", daemon)
        write(repo.agents["alpha"], {"docs/x.md": "outside again\n"})
        wait_until(lambda: len(json.loads(run_gitwarden(
            "log", "--path", "docs/x.md", "--json", cwd=repo.main).stdout)) >= 2, 10,
            "second write not logged", daemon)
        assert [(e.agent, e.path) for e in _events(repo.main, "violation.scope")] == \
            [("alpha", "docs/x.md")]
        assert found[0].data["notify"] is True
        assert _events(repo.main, "agent.paused") == []  # pausing is opt-in
    finally:
        assert daemon.stop() == 0


def test_scheduled_checkpoints_use_the_changed_paths(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "[agents.alpha]\ncheckpoint_interval = \"1s\"\n"})
    daemon = DaemonProcess(repo.main)
    try:
        start = wait_until(lambda: [e for e in _events(repo.main, "checkpoint.created")
                                    if e.agent == "alpha"], 10, "no start checkpoint", daemon)
        assert start[0].data["full"] is True
        write(repo.agents["alpha"], {"f.txt": "edited\n", "new.txt": "new\n"})
        scheduled = wait_until(lambda: [e for e in _events(repo.main, "checkpoint.created")
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
        wait_until(lambda: len(_conflicts(repo.main)["overlaps"]) == 2, 15, "overlaps missing",
                   daemon)
        wait_until(lambda: "cannot deliver desktop notifications" in daemon.log(), 15,
                   "failure not logged", daemon)
        assert daemon.alive_and_answering()
        assert daemon.log().count("cannot deliver desktop notifications") == 1
        assert len(_events(repo.main, "overlap.opened")) == 2
    finally:
        assert daemon.stop() == 0
    assert "Traceback" not in daemon.log()


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
        wait_until(lambda: _conflicts(repo.main)["overlaps"], 10, "no overlap", daemon)
        write(repo.main, {"gitwarden.toml": FAST + "[agents.beta]\nexclude = true\n"})
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: not _conflicts(repo.main)["overlaps"], 10, "still overlapping",
                   daemon)
        assert [a["name"] for a in daemon.request("status")["agents"]] == ["alpha"]
    finally:
        assert daemon.stop() == 0


def test_activity_log_has_writes_creates_deletes_but_not_temp_files(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE, "old.txt": "o\n"})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    alpha = repo.agents["alpha"]
    try:
        temp = alpha / ".f.txt.swp"
        temp.write_text("saved atomically\n")
        os.replace(temp, alpha / "f.txt")  # an editor's atomic save
        (alpha / "old.txt").unlink()
        write(alpha, {"docs/new.md": "new\n"})

        def logged() -> dict[str, str]:
            proc = run_gitwarden("log", "--agent", "alpha", "--json", cwd=repo.main)
            return {row["path"]: row["action"] for row in json.loads(proc.stdout)}

        rows = wait_until(lambda: (r := logged()) and len(r) >= 3 and r, 10, "no activity",
                          daemon)
        assert rows == {"f.txt": "move", "old.txt": "delete", "docs/new.md": "create"}
        since = run_gitwarden("log", "--since", "1h", "--path", str(alpha / "docs"),
                              "--json", cwd=repo.main)
        assert [r["path"] for r in json.loads(since.stdout)] == ["docs/new.md"]
    finally:
        assert daemon.stop() == 0


def test_merging_an_agent_branch_into_the_base_resolves_its_overlaps(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 1\n", "alpha\n")})
        git(repo.agents["alpha"], "commit", "-qam", "alpha")
        write(repo.agents["beta"], {"f.txt": BASE.replace("line 30\n", "beta\n")})
        wait_until(lambda: _conflicts(repo.main)["overlaps"], 10, "no overlap", daemon)
        git(repo.main, "merge", "-q", "--ff-only", "alpha")
        wait_until(lambda: not _conflicts(repo.main)["overlaps"], 10, "not resolved", daemon)
        assert [e.path for e in _events(repo.main, "overlap.resolved")] == ["f.txt"]
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
        released = {e.agent: e for e in _events(repo.main, "lock.stale-released")}
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
        wait_until(lambda: _events(repo.main, "violation.scope"), 10, "no violation", daemon)
        write(repo.agents["alpha"], {"docs/x.md": "alpha, outside\n"})
        wait_until(lambda: process_state(pid) == "T", 10, "alpha's process not stopped",
                   daemon)
        with Store.open(daemon.repo) as store:
            paused = paused_agents(store)
        assert list(paused) == ["alpha"]  # beta's policy is notify
        assert paused["alpha"].by == "daemon"
        assert "docs/x.md" in paused["alpha"].reason
        [event] = _events(repo.main, "agent.paused")
        assert event.agent == "alpha" and event.data["notify"] is True
        assert run_gitwarden("resume", "alpha", cwd=repo.main).returncode == 0
        wait_until(lambda: process_state(pid) in ("R", "S"), 10, "not continued", daemon)
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=15)
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


def _verdicts_on(main: Path, agent: str, commit: str) -> list[Any]:
    from gitwarden.health import table as health_state

    with Store.open(locate_repo(main)) as store:
        return [v for v in health_state.verdict_history(store, agent) if v.commit == commit]


def test_commits_made_while_the_daemon_was_down_are_checked_at_start(tmp_path: Path) -> None:
    from tests.test_health import setup_repo

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
        wait_until(lambda: _events(repo.main, "checkpoint.pruned"), 20,
                   "retention was not applied at start", daemon)
        assert _checkpoint_count(repo.main, "alpha") == 2
        pruned = _events(repo.main, "checkpoint.pruned")
        assert [(e.agent, e.data["dropped"], e.data["kept"]) for e in pruned] == \
            [("alpha", 3, 2)]
        assert "pruned 3 checkpoint(s) of alpha, kept 2" in daemon.log()
    finally:
        assert daemon.stop() == 0


def test_overlap_turning_into_a_conflict_notifies_once(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    clean = BASE.replace("line 25\n", "B\n")
    clashing = BASE.replace("line 2\n", "B\n")

    def classification() -> str | None:
        overlaps = _conflicts(repo.main)["overlaps"]
        return overlaps[0]["classification"] if overlaps else None

    with session_bus(tmp_path / "bus") as (address, server):
        daemon = DaemonProcess(repo.main, env={"DBUS_SESSION_BUS_ADDRESS": address,
                                               "GITWARDEN_NO_NOTIFY": ""})
        try:
            write(alpha, {"f.txt": BASE.replace("line 2\n", "A\n")})
            daemon.request("flush")
            write(beta, {"f.txt": clean})
            wait_until(lambda: classification() == "clean-merge", 10, "no clean merge", daemon)
            first = server.wait_for(1, 10)
            assert "clean merge" in first[0].body.lower()
            write(beta, {"f.txt": clashing})
            wait_until(lambda: classification() == "conflict", 10, "not reclassified", daemon)
            received = server.wait_for(2, 10)
            note = received[1]
            assert "f.txt" in note.summary
            assert "alpha" in note.summary and "beta" in note.summary
            assert "will now conflict" in note.body.lower()
            assert "alpha lines 2-2, beta lines 2-2" in note.body
            # flipping back and forth does not tell again about the same overlap
            write(beta, {"f.txt": clean})
            wait_until(lambda: classification() == "clean-merge", 10, "not clean", daemon)
            write(beta, {"f.txt": clashing})
            wait_until(lambda: classification() == "conflict", 10, "not conflict", daemon)
            daemon.request("flush")
            time.sleep(1.5)  # the dispatcher polls the event log every second
            assert len(server.notifications()) == 2
            kinds = [e.data["classification"] for e in _events(repo.main, "overlap.reclassified")]
            assert kinds == ["conflict", "clean-merge", "conflict"]
        finally:
            assert daemon.stop() == 0


def test_conflicts_table_shows_every_agents_conflicting_lines(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    write(repo.agents["alpha"], {"f.txt": BASE.replace("line 7\n", "alpha\n")})
    write(repo.agents["beta"], {"f.txt": BASE.replace("line 7\nline 8\n", "b\nb\nb\n")})
    expected = "alpha 7-8, beta 7-9"  # the conflict region covers base lines 7-8
    offline = run_gitwarden("conflicts", cwd=repo.main)
    assert offline.returncode == 0, offline.stderr
    assert expected in offline.stdout
    daemon = DaemonProcess(repo.main)
    try:
        wait_until(lambda: _conflicts(repo.main)["source"] == "daemon" and
                   _conflicts(repo.main)["overlaps"], 10, "no overlap", daemon)
        live = run_gitwarden("conflicts", cwd=repo.main)
        assert live.returncode == 0, live.stderr
        assert "no daemon running" not in live.stdout
        assert expected in live.stdout
        hunk = _conflicts(repo.main)["overlaps"][0]["hunks"][0]
        assert (hunk["alpha"], hunk["beta"]) == ([7, 8], [7, 9])
    finally:
        assert daemon.stop() == 0
