"""The pipeline's batches: a debounce for bursts, and the leading edge for overlaps."""

from __future__ import annotations

import queue

from gitwarden.daemon.batching import Command, agent_of, collect_batch, on_leading_edge
from gitwarden.daemon.watcher import OVERFLOW, FsEvent
from gitwarden.overlaps.tracker import ChangeTracker

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


def test_leading_edge_is_a_path_another_agent_changed() -> None:
    tracker = ChangeTracker()
    tracker.set_dirty("alpha", ["src/f.py"], 1.0)
    tracker.set_dirty("beta", ["src/g.py"], 1.0)
    edge = tracker.changed_by_other
    assert on_leading_edge(FsEvent("/w/beta/src/f.py", "write"), ROOTS, edge)
    assert not on_leading_edge(FsEvent("/w/beta/src/g.py", "write"), ROOTS, edge)  # its own
    assert not on_leading_edge(FsEvent("/w/alpha/src/f.py", "write"), ROOTS, edge)
    assert not on_leading_edge(FsEvent("/w/beta/src", "create", is_dir=True), ROOTS, edge)
    assert not on_leading_edge(OVERFLOW, ROOTS, edge)
    assert not on_leading_edge(FsEvent("/elsewhere/src/f.py", "write"), ROOTS, edge)
    assert agent_of(ROOTS, "/w/beta/sub/x.py") == "beta-sub"
    assert agent_of(ROOTS, "/w/betamax/x.py") is None
