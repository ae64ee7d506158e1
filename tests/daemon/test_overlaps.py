"""The real daemon finds overlaps between agents' worktrees, predicts their merge, notifies once
(over a real D-Bus session bus) and resolves them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gitwarden.store.db import Store
from gitwarden.store.events import record_event
from tests.helpers.daemon_state import BASE, FAST, conflicts_json, events_of
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.dbus_notifications import session_bus
from tests.helpers.gitrepo import (
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)

# Each watcher runs the tests whose outcome rests on its events (edited paths, commits,
# branch moves, new worktrees); the rest run on the platform's default watcher.
EACH_WATCHER = pytest.mark.usefixtures("each_watcher")


@EACH_WATCHER
def test_same_file_in_two_worktrees_notifies_once_over_dbus_and_resolves(
        tmp_path: Path, each_watcher: str) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"),
                                 files={"src/app.py": BASE, "README.md": "hi\n"})
    write(repo.main, {"gitwarden.toml": FAST})
    with session_bus(tmp_path / "bus") as (address, server):
        daemon = DaemonProcess(repo.main, env={"DBUS_SESSION_BUS_ADDRESS": address,
                                               "GITWARDEN_NO_NOTIFY": ""})
        try:
            watching = {a["watching"] for a in daemon.request("status")["agents"]}
            assert watching == {"inotify" if each_watcher == "inotify" else "observer:inotify"}
            write(repo.agents["alpha"], {"src/app.py": BASE.replace("line 7\n", "alpha\n")})
            write(repo.agents["gamma"], {"README.md": "gamma only\n"})
            wait_until(lambda: events_of(repo.main, "overlap.opened") == [] and
                       daemon.request("status")["agents"][0]["changed"] == 1, 10,
                       "alpha's edit not tracked", daemon)
            write(repo.agents["beta"], {"src/app.py": BASE.replace("line 7\n", "beta\n")})
            report = wait_until(lambda: conflicts_json(repo.main)["overlaps"], 10,
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
            wait_until(lambda: not conflicts_json(repo.main)["overlaps"], 10,
                       "overlap not resolved", daemon)
            resolved = events_of(repo.main, "overlap.resolved")
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
    offline = conflicts_json(repo.main)
    assert offline["source"] == "git"
    assert [(o["path"], o["classification"]) for o in offline["overlaps"]] == \
        [("f.txt", "clean-merge")]
    daemon = DaemonProcess(repo.main)
    try:
        live = wait_until(lambda: conflicts_json(repo.main)["overlaps"], 10, "no overlap", daemon)
        assert live[0]["classification"] == "clean-merge"
        assert events_of(repo.main, "overlap.opened")[0].data["body"].startswith("Clean merge")
        # the classification follows the edits
        write(repo.agents["beta"], {"f.txt": BASE.replace("line 2\n", "B\n")})
        wait_until(lambda: conflicts_json(repo.main)["overlaps"][0]["classification"] ==
                   "conflict", 10, "not reclassified", daemon)
        assert "max_user_watches" not in daemon.log()  # no watch-limit hint when not needed
    finally:
        assert daemon.stop() == 0


@EACH_WATCHER
def test_merging_an_agent_branch_into_the_base_resolves_its_overlaps(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 1\n", "alpha\n")})
        git(repo.agents["alpha"], "commit", "-qam", "alpha")
        write(repo.agents["beta"], {"f.txt": BASE.replace("line 30\n", "beta\n")})
        wait_until(lambda: conflicts_json(repo.main)["overlaps"], 10, "no overlap", daemon)
        git(repo.main, "merge", "-q", "--ff-only", "alpha")
        wait_until(lambda: not conflicts_json(repo.main)["overlaps"], 10, "not resolved", daemon)
        assert [e.path for e in events_of(repo.main, "overlap.resolved")] == ["f.txt"]
    finally:
        assert daemon.stop() == 0


def test_overlap_turning_into_a_conflict_notifies_once(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    clean = BASE.replace("line 25\n", "B\n")
    clashing = BASE.replace("line 2\n", "B\n")

    def classification() -> str | None:
        overlaps = conflicts_json(repo.main)["overlaps"]
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
            kinds = [e.data["classification"] for e in events_of(repo.main, "overlap.reclassified")]
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
        wait_until(lambda: conflicts_json(repo.main)["source"] == "daemon" and
                   conflicts_json(repo.main)["overlaps"], 10, "no overlap", daemon)
        live = run_gitwarden("conflicts", cwd=repo.main)
        assert live.returncode == 0, live.stderr
        assert "no daemon running" not in live.stdout
        assert expected in live.stdout
        hunk = conflicts_json(repo.main)["overlaps"][0]["hunks"][0]
        assert (hunk["alpha"], hunk["beta"]) == ([7, 8], [7, 9])
    finally:
        assert daemon.stop() == 0


def test_state_db_removed_while_running_is_recreated_and_the_next_overlap_shows(
        tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"),
                                 files={"f.txt": BASE, "g.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 2\n", "alpha\n")})
        write(repo.agents["beta"], {"f.txt": BASE.replace("line 9\n", "beta\n")})
        wait_until(lambda: conflicts_json(repo.main)["overlaps"], 10, "no first overlap", daemon)
        for leftover in daemon.repo.state_dir.glob("state.db*"):
            leftover.unlink()
        write(repo.agents["gamma"], {"g.txt": BASE.replace("line 3\n", "gamma\n")})
        write(repo.agents["alpha"], {"g.txt": BASE.replace("line 3\n", "alpha\n")})
        overlaps = wait_until(lambda: len(conflicts_json(repo.main)["overlaps"]) == 2 and
                              conflicts_json(repo.main)["overlaps"], 10,
                              "the overlap after the removal is not visible", daemon)
        assert [o["path"] for o in overlaps] == ["f.txt", "g.txt"]  # the open one rewritten
        (reopened,) = events_of(repo.main, "store.reopened")
        # removed, then created again by `gitwarden conflicts` before the daemon looked
        assert "while in use; reopened it" in reopened.message
        wait_until(lambda: "store.reopened" in daemon.log(), 10, "reopen not logged", daemon)
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_many_overlapping_files_leave_no_loose_objects(tmp_path: Path) -> None:
    """Issue 13: predicting 2,000 overlaps x 4 worktrees wrote 8,003 loose objects."""
    files = {f"src/f{i}.txt": BASE for i in range(300)}
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"), files=files)
    write(repo.main, {"gitwarden.toml": FAST})
    git(repo.main, "add", "gitwarden.toml")
    git(repo.main, "commit", "-q", "-m", "config")
    daemon = DaemonProcess(repo.main)
    try:
        # the start checkpoints are objects of their own (reachable from refs/gitwarden)
        wait_until(lambda: len(events_of(repo.main, "checkpoint.created")) == 3, 30,
                   "no start checkpoints", daemon)
        before = git(repo.main, "count-objects", "-v")
        for number, name in enumerate(("alpha", "beta", "gamma")):
            write(repo.agents[name], {rel: BASE.replace(f"line {3 + 8 * number}\n", f"{name}\n")
                                      for rel in files})
        report = wait_until(lambda: len(conflicts_json(repo.main)["overlaps"]) == 300 and
                            conflicts_json(repo.main), 120, "overlaps not all predicted", daemon)
        assert {o["classification"] for o in report["overlaps"]} == {"clean-merge"}
    finally:
        assert daemon.stop() == 0
    after = git(repo.main, "count-objects", "-v")
    loose = {text: dict(line.split(": ") for line in text.splitlines())["count"]
             for text in (before, after)}
    assert loose[after] == loose[before], (before, after)
