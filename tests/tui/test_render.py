"""The landing queue panel as text: order, positions, aligned columns with wide characters,
reasons from agents escaped."""

from __future__ import annotations

from gitwarden.landing.queue import QueueEntry
from gitwarden.output import display_width
from gitwarden.tui.render import queue_panel

NOW = 1_000_000.0


def _entry(entry_id: int, agent: str, state: str, *, reason: str = "",
           enqueued: float = NOW - 60, updated: float = NOW - 30) -> QueueEntry:
    return QueueEntry(id=entry_id, agent=agent, head="a" * 40, strategy="rebase", state=state,
                      reason=reason, log=None, enqueued_ts=enqueued, updated_ts=updated,
                      landed_commit=None, by="user")


def test_an_empty_queue_says_so() -> None:
    assert queue_panel([], NOW).plain.startswith("queue empty")


def test_waiting_entries_come_first_by_position_the_running_one_first() -> None:
    lines = queue_panel([
        _entry(1, "old", "landed", updated=NOW - 500),
        _entry(2, "alpha", "queued", enqueued=NOW - 120),
        _entry(3, "beta", "running", enqueued=NOW - 240),
        _entry(4, "gamma", "ejected", reason="check tests failed", updated=NOW - 5),
    ], NOW).plain.splitlines()
    assert [line.split()[:3] for line in lines[1:]] == [
        ["1", "beta", "running"], ["2", "alpha", "queued"], ["-", "gamma", "ejected"],
        ["-", "old", "landed"]]
    assert lines[1].split()[3:5] == ["4m", "ago"]  # waiting: since it was queued
    assert lines[3].split()[3:5] == ["5s", "ago"]  # finished: since it finished
    assert lines[3].endswith("check tests failed")


def test_columns_stay_aligned_with_wide_names_and_reasons_are_escaped() -> None:
    text = queue_panel([_entry(1, "日本語", "queued"),
                        _entry(2, "b", "ejected", reason="bad\x1b[31m\nreason")], NOW).plain
    lines = text.splitlines()
    starts = {display_width(line[:line.index(state)])
              for line, state in zip(lines, ("state", "queued", "ejected"), strict=True)}
    assert len(starts) == 1
    assert "\x1b" not in text and len(lines) == 3
