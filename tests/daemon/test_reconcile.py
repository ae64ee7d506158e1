"""The real daemon repairs what file events missed, skips quiet agents, falls back to polling when
watches run out, and stays up under event storms."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.daemon import gitscan
from gitwarden.daemon.reconcile import FULL_BUDGET, FULL_RECONCILE_INTERVAL, Reconciler, stale_due
from tests.helpers.daemon_state import BASE, FAST, conflicts_json, events_of
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import (
    RepoWithAgents,
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)


def _two_agents_reconciled_every_second(tmp_path: Path) -> tuple[RepoWithAgents, DaemonProcess]:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "reconcile_interval = \"1s\"\n"})
    return repo, DaemonProcess(repo.main, env={"GITWARDEN_LOG_LEVEL": "debug"})


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
        wait_until(lambda: conflicts_json(repo.main)["overlaps"], 15, "reconcile missed it",
                   daemon)
        assert "repaired missed changes" in daemon.log()
    finally:
        assert daemon.stop() == 0


def _checkpointed(worktree: Path, text: str) -> bool:
    shown = git(worktree, "show", "refs/gitwarden/checkpoints/alpha:f.txt", check=False)
    return text in shown


def test_a_missed_edit_of_a_changed_file_reaches_the_checkpoints(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "reconcile_interval = \"1s\"\n"
                      "[agents.alpha]\ncheckpoint_interval = \"1s\"\n"})
    daemon = DaemonProcess(repo.main)
    alpha = repo.agents["alpha"]
    try:
        write(alpha, {"f.txt": "first edit\n"})
        wait_until(lambda: _checkpointed(alpha, "first edit"), 15, "edit not checkpointed",
                   daemon)
        assert daemon.request("unwatch", agent="alpha")["ok"]
        # The changed set stays {f.txt}: only a full checkpoint can see the new content.
        write(alpha, {"f.txt": "second edit, no event\n"})
        wait_until(lambda: _checkpointed(alpha, "second edit"), 15,
                   "the unseen edit never reached a checkpoint", daemon)
    finally:
        assert daemon.stop() == 0


def test_reconcile_skips_quiet_agents_but_sees_git_only_changes(tmp_path: Path) -> None:
    repo, daemon = _two_agents_reconciled_every_second(tmp_path)
    try:
        write(repo.agents["alpha"], {"f.txt": "alpha\n"})
        write(repo.agents["beta"], {"f.txt": "beta\n"})
        wait_until(lambda: conflicts_json(repo.main)["overlaps"], 10, "no overlap", daemon)
        # quiet agents are not recomputed by the periodic reconcile
        wait_until(lambda: daemon.request("status")["reconcile"] ==
                   {"full": False, "recomputed": 0, "skipped": 2}, 10, "nothing skipped",
                   daemon)
        # nor are agents whose file events were applied: only the start read both from git
        whole = [line for line in daemon.log().splitlines() if "reconciled 2 agent(s) in" in line]
        assert len(whole) == 1, daemon.log()
        # a change made by git alone, with no file event: the index changed
        git(repo.agents["alpha"], "update-index", "--assume-unchanged", "f.txt")
        wait_until(lambda: not conflicts_json(repo.main)["overlaps"], 10,
                   "index-only change missed", daemon)
        assert "repaired missed changes of alpha" in daemon.log()
    finally:
        assert daemon.stop() == 0


def test_a_periodic_reconcile_rereads_at_most_the_budget_of_stale_agents(
        tmp_path: Path) -> None:
    names = ("a1", "a2", "a3", "a4", "a5", "a6")
    repo = make_repo_with_agents(tmp_path, names, files={"f.txt": BASE})
    agents = {a.name: a for a in Workspace.load(repo.main).agents if a.name in names}
    reconciler = Reconciler()
    signature = gitscan.repo_signature(Workspace.load(repo.main).repo.common_dir)
    start = 1000.0
    for offset, name in enumerate(names):  # all read from git, a1 longest ago
        reconciler.was_read(name, reconciler.signature(agents[name]), start + offset)
    roots = {str(a.path) for a in agents.values()}

    def tick(now: float) -> list[str]:
        plan = reconciler.plan(agents, (), now, initial=False, repo_signature=signature,
                               watched=lambda: roots, polling=())
        for name in plan.read:
            reconciler.was_read(name, reconciler.signature(agents[name]), now)
        reconciler.finish(plan, len(agents), now)
        return plan.read

    first = tick(start + 10)  # the first tick is a full one: every agent is read
    assert sorted(first) == sorted(names)
    assert reconciler.stats == {"full": True, "recomputed": 6, "skipped": 0}
    assert tick(start + 20) == []  # nothing changed, nothing stale: no git read at all
    assert reconciler.stats == {"full": False, "recomputed": 0, "skipped": 6}
    later = start + 10 + FULL_RECONCILE_INTERVAL
    stale = [tick(later + n) for n in range(4)]  # every agent stale: two per tick, in turn
    assert [len(read) for read in stale] == [FULL_BUDGET, FULL_BUDGET, FULL_BUDGET, 0]
    assert sorted(name for read in stale for name in read) == sorted(names)
    # an index rewritten by `git status` (stat data only): nothing to read
    write(repo.agents["a3"], {"f.txt": BASE})  # same bytes, new stat data
    git(repo.agents["a3"], "status")
    assert tick(later + 9) == []
    # an agent that changed unseen (its index entries moved) is read whatever the budget
    git(repo.agents["a4"], "update-index", "--assume-unchanged", "f.txt")
    assert tick(later + 10) == ["a4"]
    reconciler.unsettled.add("a2")  # events not yet settled
    assert tick(later + 11) == ["a2"]
    reconciler.forget("a2")
    assert "a2" not in reconciler.read_at and "a2" not in reconciler.signatures


def test_stale_agents_are_taken_oldest_first_within_the_budget() -> None:
    read_at = {"a": 5.0, "b": 1.0, "c": 3.0, "d": 900.0}
    assert stale_due(read_at, read_at, 1000.0, budget=2, interval=100.0) == {"b", "c"}
    assert stale_due(read_at, ["d"], 1000.0, budget=2, interval=150.0) == set()
    assert stale_due({}, ["new"], 0.0, budget=1, interval=100.0) == {"new"}


def test_watch_limit_falls_back_to_polling(tmp_path: Path) -> None:
    files = {f"d{i}/sub/f.txt": "x\n" for i in range(6)}
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={**files, "f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + "poll_interval = \"300ms\"\n"})
    # the adapter refuses the 20th watch with ENOSPC, like a full fs.inotify.max_user_watches
    daemon = DaemonProcess(repo.main, env={"GITWARDEN_WATCH_LIMIT": "20"})
    try:
        limit_events = wait_until(lambda: events_of(repo.main, "watch.limit"), 10,
                                  "no watch-limit event", daemon)
        assert "max_user_watches" in limit_events[0].message
        assert "fs.inotify.max_user_watches" in daemon.log()  # the hint, where it is needed
        assert limit_events[0].data["notify"] is True
        status = daemon.request("status")
        assert "polling" in {a["watching"] for a in status["agents"]}
        write(repo.agents["alpha"], {"f.txt": "alpha\n"})
        write(repo.agents["beta"], {"f.txt": "beta\n"})
        wait_until(lambda: conflicts_json(repo.main)["overlaps"], 10, "polling missed it",
                   daemon)
        assert daemon.alive_and_answering()
    finally:
        assert daemon.stop() == 0


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
    daemon = DaemonProcess(repo.main, fresh=True)  # its memory is measured
    try:
        storms = [subprocess.Popen([sys.executable, "-c", _STORM, str(repo.agents["alpha"]),
                                    part]) for part in ("ignored", "tracked")]
        write(repo.agents["alpha"], {"f.txt": "alpha\n"})
        write(repo.agents["beta"], {"f.txt": "beta\n"})
        assert [storm.wait(timeout=180) for storm in storms] == [0, 0]
        wait_until(lambda: conflicts_json(repo.main)["overlaps"], 60, "overlap lost in storm",
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
