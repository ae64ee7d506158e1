"""One timer checkpoints every agent: only agents with paths pending, each at its own
interval, whatever the number of agents."""

from __future__ import annotations

from gitwarden.daemon.checkpoint_timer import CheckpointTimer
from gitwarden.daemon.pending import PendingPaths


def test_only_agents_with_pending_paths_are_checkpointed_each_at_its_interval() -> None:
    pending = PendingPaths()
    clock = [100.0]
    taken: list[str] = []

    def checkpoint(name: str) -> None:
        taken.append(name)
        pending.take(name)

    intervals = {"fast": 10.0}
    timer = CheckpointTimer(pending, lambda name: intervals.get(name, 60.0), checkpoint,
                            clock=lambda: clock[0])
    assert timer.tick() == []  # 32 idle agents or none: nothing to do
    pending.add("fast", ["a.py"])
    pending.add("slow", ["b.py"])
    assert timer.tick() == ["fast", "slow"]  # the first time: at once
    pending.add("fast", ["a.py"])
    pending.add("slow", ["b.py"])
    clock[0] += 10
    assert timer.tick() == ["fast"]  # slow's interval has not passed yet
    clock[0] += 50
    assert timer.tick() == ["slow"]  # and fast has nothing pending
    assert taken == ["fast", "slow", "fast", "slow"]
    timer.keep_only(["fast"])
    assert len(timer) == 1
