"""Paths changed since each agent's last checkpoint: filled by the pipeline thread, taken by
the checkpoint job (and given back when that checkpoint could not be taken)."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class PendingPaths:
    """Thread-safe map of agent -> paths changed since its last checkpoint."""

    def __init__(self) -> None:
        self._paths: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def add(self, agent: str, paths: Iterable[str]) -> None:
        with self._lock:
            self._paths.setdefault(agent, set()).update(paths)

    def agents(self) -> list[str]:
        """The agents with paths pending, by name."""
        with self._lock:
            return sorted(name for name, paths in self._paths.items() if paths)

    def size(self) -> int:
        with self._lock:
            return sum(len(paths) for paths in self._paths.values())

    def take(self, agent: str) -> set[str] | None:
        """The paths pending for `agent`, now no longer pending (None: nothing changed)."""
        with self._lock:
            return self._paths.pop(agent, None)
