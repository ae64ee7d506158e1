"""The pipeline's batches: a debounce for bursts, and the leading edge for overlaps (unit
tests, then the real daemon on real file events)."""

from __future__ import annotations

import os
import queue
from pathlib import Path

import pytest

from gitwarden.daemon import batching
from gitwarden.daemon.batching import Bursts, Command, agent_of, collect_batch, on_leading_edge
from gitwarden.daemon.watcher import OVERFLOW, FsEvent
from gitwarden.git.repository import locate_repo
from gitwarden.overlaps.tracker import ChangeTracker
from gitwarden.store.activity import Activity, list_activity
from gitwarden.store.db import Store
from tests.helpers.daemon_state import BASE, FAST, conflicts_json, events_of
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import make_repo_with_agents, write

ROOTS = {"alpha": "/w/alpha", "beta": "/w/beta", "beta-sub": "/w/beta/sub"}


def _queue(*items: FsEvent | Command) -> queue.Queue[FsEvent | Command]:
    items_queue: queue.Queue[FsEvent | Command] = queue.Queue()
    for item in items:
        items_queue.put(item)
    return items_queue


def test_a_burst_is_one_batch_without_a_leading_edge() -> None:
    first, second = FsEvent("/w/alpha/a.py", "write"), FsEvent("/w/alpha/b.py", "write")
    assert collect_batch(_queue(first, second), 0.05) == [first, second]
    assert collect_batch(_queue(first, second), 0.05, lambda _event: False) == [first, second]


def test_the_leading_event_is_taken_at_once_and_the_rest_coalesced() -> None:
    leading, after, more = (FsEvent("/w/beta/f.py", "write"), FsEvent("/w/beta/f.py", "write"),
                            FsEvent("/w/beta/g.py", "create"))
    items = _queue(leading, after, more)
    is_leading = {leading: True}
    assert collect_batch(items, 0.05, lambda e: is_leading.pop(e, False)) == [leading]
    assert collect_batch(items, 0.05, lambda e: is_leading.pop(e, False)) == [after, more]


def test_a_leading_event_later_in_a_batch_ends_it_with_what_came_before() -> None:
    created, written, after = (FsEvent("/w/beta/f.py", "create"), FsEvent("/w/beta/f.py", "write"),
                               FsEvent("/w/beta/g.py", "write"))
    items = _queue(created, written, after)
    assert collect_batch(items, 0.05, lambda e: e is written) == [created, written]
    assert collect_batch(items, 0.05, lambda e: e is written) == [after]


def test_only_the_first_event_of_a_burst_on_a_path_is_leading(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bursts = Bursts()
    assert bursts.first_of_burst("/w/beta/f.py", 10.0, 0.15)
    assert not bursts.first_of_burst("/w/beta/f.py", 10.1, 0.15)  # the same burst
    assert not bursts.first_of_burst("/w/beta/f.py", 10.2, 0.15)  # still: 0.1 s since the last
    assert bursts.first_of_burst("/w/beta/g.py", 10.2, 0.15)  # another path
    assert bursts.first_of_burst("/w/beta/f.py", 10.4, 0.15)  # quiet for a debounce: a new one
    monkeypatch.setattr(batching, "MAX_BURSTS", 3)
    for n in range(10):
        bursts.first_of_burst(f"/w/beta/{n}.py", 11.0, 0.15)
    assert len(bursts) == 3


def test_paths_whose_burst_is_over_are_forgotten() -> None:
    bursts = Bursts()
    for n in range(100):
        assert bursts.first_of_burst(f"/w/beta/{n}.py", 10.0, 0.15)
    assert not bursts.first_of_burst("/w/beta/99.py", 10.1, 0.15)
    assert len(bursts) == 100  # every burst still going
    assert bursts.first_of_burst("/w/beta/new.py", 10.2, 0.15)
    assert len(bursts) == 2  # only 99.py (last event 0.1 s ago) and new.py are in a burst
    assert not bursts.first_of_burst("/w/beta/99.py", 10.24, 0.15)
    assert bursts.first_of_burst("/w/beta/0.py", 10.3, 0.15)  # forgotten: leading, as before


def test_leading_edge_is_a_path_another_agent_changed() -> None:
    tracker = ChangeTracker()
    tracker.set_dirty("alpha", ["src/f.py"], 1.0)
    tracker.set_dirty("beta", ["src/g.py"], 1.0)
    edge = tracker.changed_by_other
    assert on_leading_edge(FsEvent("/w/beta/src/f.py", "write"), ROOTS, edge)
    assert not on_leading_edge(FsEvent("/w/beta/src/g.py", "write"), ROOTS, edge)  # its own
    assert not on_leading_edge(FsEvent("/w/alpha/src/f.py", "write"), ROOTS, edge)
    assert not on_leading_edge(FsEvent("/w/beta/src", "create", is_dir=True), ROOTS, edge)
    assert on_leading_edge(FsEvent("/w/beta/src/f.py", "move-to"), ROOTS, edge)  # a save
    # created (still empty) or deleted: the file's content is not there to judge yet
    assert not on_leading_edge(FsEvent("/w/beta/src/f.py", "create"), ROOTS, edge)
    assert not on_leading_edge(FsEvent("/w/beta/src/f.py", "delete"), ROOTS, edge)
    assert not on_leading_edge(OVERFLOW, ROOTS, edge)
    assert not on_leading_edge(FsEvent("/elsewhere/src/f.py", "write"), ROOTS, edge)
    assert agent_of(ROOTS, "/w/beta/sub/x.py") == "beta-sub"
    assert agent_of(ROOTS, "/w/betamax/x.py") is None


def _activity(main: Path, agent: str) -> dict[str, Activity]:
    with Store.open(locate_repo(main)) as store:
        return {row.path: row for row in list_activity(store, agent=agent)}


def test_the_daemon_reports_an_overlap_on_the_leading_edge_of_a_burst(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"src/app.py": BASE})
    # a debounce far longer than the burst: without the leading edge the whole burst would
    # be one batch, and the overlap recorded only after all of it
    write(repo.main, {"gitwarden.toml": "[watch]\ndebounce = \"800ms\"\n"})
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.agents["alpha"], {"src/app.py": BASE.replace("line 7\n", "alpha\n")})
        wait_until(lambda: "src/app.py" in _activity(repo.main, "alpha"), 10,
                   "alpha's edit not seen", daemon)
        daemon.request("flush")
        # one burst of beta: a file of its own, the file alpha changed, another of its own
        write(repo.agents["beta"], {"src/first.md": "first\n"})
        write(repo.agents["beta"], {"src/app.py": BASE.replace("line 7\n", "beta\n")})
        write(repo.agents["beta"], {"src/later.md": "later\n"})
        rows = wait_until(lambda: (r := _activity(repo.main, "beta")) and "src/later.md" in r
                          and r, 10, "beta's burst not seen", daemon)
        opened = events_of(repo.main, "overlap.opened")
        assert [(e.path, e.data["agents"]) for e in opened] == [("src/app.py", ["alpha", "beta"])]
        # recorded with what came before it, before the batch holding the rest of the burst
        assert rows["src/first.md"].ts == rows["src/app.py"].ts <= opened[0].ts
        assert opened[0].ts < rows["src/later.md"].ts
    finally:
        assert daemon.stop() == 0


def test_a_leading_edge_leaves_no_overlap_for_a_file_renamed_or_removed_in_its_burst(
        tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"src/app.py": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    try:
        write(alpha, {"src/new.py": "alpha's new file\n", "src/gone.py": "alpha's too\n",
                      "src/app.py": BASE.replace("line 7\n", "alpha\n")})
        wait_until(lambda: daemon.request("status")["agents"][0]["changed"] == 3, 10,
                   "alpha's files not tracked", daemon)
        # beta writes alpha's new file names, then renames one away and removes the other
        write(beta, {"src/new.py": "beta's\n", "src/gone.py": "beta's\n"})
        os.replace(beta / "src/new.py", beta / "src/mine.py")
        (beta / "src/gone.py").unlink()
        # and saves alpha's tracked file the way `sed -i` does: a temp file renamed over it
        write(beta, {"src/sedAbc123": BASE.replace("line 20\n", "beta\n")})
        os.replace(beta / "src/sedAbc123", beta / "src/app.py")
        wait_until(lambda: {"src/mine.py", "src/app.py"} <= set(_activity(repo.main, "beta")),
                   10, "beta's final names not seen", daemon)
        daemon.request("flush")
        overlaps = conflicts_json(repo.main)["overlaps"]
        assert [(o["path"], o["agents"]) for o in overlaps] == [("src/app.py", ["alpha", "beta"])]
        assert overlaps[0]["classification"] == "clean-merge"
        opened = {e.path for e in events_of(repo.main, "overlap.opened")}
        assert "src/sedAbc123" not in opened  # reported under the final name only
        resolved = {e.path for e in events_of(repo.main, "overlap.resolved")}
        assert opened - {"src/app.py"} <= resolved  # whatever a leading edge opened, closed
    finally:
        assert daemon.stop() == 0
