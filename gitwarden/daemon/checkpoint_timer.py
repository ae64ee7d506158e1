"""One timer for every agent's periodic checkpoints.

An agent with paths pending gets a checkpoint once its own interval has passed since its last
one (at once the first time); an agent with nothing pending costs nothing. The timer ticks at
the shortest interval of any agent, so an idle daemon wakes up once per tick whatever the number
of agents, instead of once per agent and interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from gitwarden.daemon.pending import PendingPaths


class CheckpointTimer:
    """Called on a scheduler thread; remembers one time per agent that had paths pending."""

    def __init__(self, pending: PendingPaths, interval_of: Callable[[str], float],
                 checkpoint: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pending = pending
        self._interval_of = interval_of
        self._checkpoint = checkpoint
        self._clock = clock
        self._last: dict[str, float] = {}  # agent -> when its last checkpoint was asked for

    def tick(self) -> list[str]:
        """Checkpoint the agents that are due; returns their names."""
        now = self._clock()
        due = [name for name in self._pending.agents()
               if now - self._last.get(name, float("-inf")) >= self._interval_of(name)]
        for name in due:
            self._last[name] = now
            self._checkpoint(name)
        return due

    def keep_only(self, agents: Collection[str]) -> None:
        """Forget agents that are gone (the map stays bounded by the agents watched)."""
        self._last = {name: at for name, at in self._last.items() if name in agents}

    def __len__(self) -> int:
        return len(self._last)
