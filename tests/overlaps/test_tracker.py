"""The pure changed-set tracker: incremental updates and overlap transitions."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gitwarden.overlaps.detect import find_overlaps
from gitwarden.overlaps.tracker import ChangeTracker, Overlap


def test_overlap_opens_with_first_agent_and_resolves() -> None:
    tracker = ChangeTracker()
    tracker.update_dirty("beta", files=["a.py"], present=["a.py"], now=2.0)
    tracker.update_dirty("alpha", files=["a.py"], present=["a.py"], now=5.0)
    delta = tracker.diff_overlaps(now=5.0)
    assert [(o.path, o.agents, o.first_agent) for o in delta.opened] == \
        [("a.py", ("alpha", "beta"), "beta")]
    assert not tracker.diff_overlaps(now=6.0)  # nothing changed: nothing reported
    tracker.update_dirty("beta", files=["a.py"], present=[], now=7.0)
    delta = tracker.diff_overlaps(now=7.0)
    assert [o.path for o in delta.resolved] == ["a.py"]
    assert tracker.overlaps == {}


def test_committed_paths_keep_an_overlap_open_after_the_dirty_copy_goes() -> None:
    tracker = ChangeTracker()
    tracker.set_committed("alpha", ["x"], now=1.0)
    tracker.set_dirty("beta", ["x"], now=1.0)
    assert [o.path for o in tracker.diff_overlaps(now=1.0).opened] == ["x"]
    tracker.update_dirty("alpha", files=["x"], present=[], now=2.0)
    assert not tracker.diff_overlaps(now=2.0)
    assert tracker.changed("alpha") == {"x"}


def test_directory_scope_drops_everything_under_it() -> None:
    tracker = ChangeTracker()
    tracker.set_dirty("alpha", ["pkg/a", "pkg/sub/b", "pkgother/c", "top"], now=0)
    tracker.update_dirty("alpha", dirs=["pkg"], present=["pkg/new"], now=1)
    assert tracker.changed("alpha") == {"pkg/new", "pkgother/c", "top"}


def test_third_agent_changes_the_overlap_and_removal_resolves() -> None:
    tracker = ChangeTracker()
    for name in ("a", "b"):
        tracker.set_dirty(name, ["f"], now=0)
    tracker.diff_overlaps(now=0)
    tracker.set_dirty("c", ["f"], now=1)
    delta = tracker.diff_overlaps(now=1)
    assert [o.agents for o in delta.changed] == [("a", "b", "c")]
    assert delta.changed[0].opened_at == 0
    tracker.remove_agent("c")
    tracker.remove_agent("b")
    assert [o.path for o in tracker.diff_overlaps(now=2).resolved] == ["f"]


def test_restored_overlap_is_not_reannounced_but_resolves_when_gone() -> None:
    tracker = ChangeTracker()
    tracker.restore_overlap(Overlap("f", ("a", "b"), "a", 0.0))
    tracker.set_dirty("a", ["f"], now=1)
    tracker.set_dirty("b", ["f"], now=1)
    assert not tracker.diff_overlaps(now=1, full=True)
    tracker.set_dirty("b", [], now=2)
    assert [o.path for o in tracker.diff_overlaps(now=2, full=True).resolved] == ["f"]


PATHS = ["a", "b", "d/x", "d/y", "e/z"]
AGENTS = ["p", "q", "r"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["dirty", "update", "commit", "remove"]),
                          st.sampled_from(AGENTS),
                          st.sets(st.sampled_from(PATHS)),
                          st.sets(st.sampled_from(PATHS))), max_size=25))
def test_incremental_overlaps_match_a_full_recount(ops: list[Any]) -> None:
    tracker = ChangeTracker()
    for step, (op, agent, first, second) in enumerate(ops):
        if op == "dirty":
            tracker.set_dirty(agent, first, now=step)
        elif op == "update":
            tracker.update_dirty(agent, files=first, present=first & second, now=step)
        elif op == "commit":
            tracker.set_committed(agent, first, now=step)
        else:
            tracker.remove_agent(agent)
        tracker.diff_overlaps(now=step)
        expected = find_overlaps(tracker.changed_sets())
        assert {p: o.agents for p, o in tracker.overlaps.items()} == expected
