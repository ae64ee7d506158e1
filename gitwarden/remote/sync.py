"""One daemon's periodic exchange with the shared remote: publish this machine's presence,
fetch everybody's refs, claim and release this machine's locks, refresh the lock cache.

Invariant: a remote that does not answer never stops local work: the exchange records
"unknown since T", keeps the last known view of the other machines, and leaves locks taken
meanwhile local-only until the next exchange that gets through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitwarden.config import RemoteConfig
from gitwarden.remote import state
from gitwarden.remote.lockcache import (
    ClaimReport,
    reconcile_claims,
    record_reconnect,
    refresh_cache,
)
from gitwarden.remote.presence import LocalPresence, Machine, publish, read_machines, stale_machines
from gitwarden.remote.refs import machine_id
from gitwarden.remote.requests import deliver_requests
from gitwarden.remote.transport import RemoteUnreachable, fetch
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event

log = logging.getLogger("gitwarden.remote")


@dataclass
class SyncReport:
    reachable: bool
    machines: list[Machine] = field(default_factory=list)
    stale: set[str] = field(default_factory=set)
    claims: ClaimReport = field(default_factory=ClaimReport)
    pushed: bool = False
    error: str | None = None
    delivered: int = 0

    def live_agents(self) -> list[Any]:
        return [agent for machine in self.machines if machine.machine not in self.stale
                for agent in machine.agents]


class RemoteSync:
    """This machine's exchanges with one remote; use from one thread at a time."""

    def __init__(self, cwd: Path, config: RemoteConfig) -> None:
        self.cwd = cwd
        self.config = config
        self.machine = machine_id(config.machine)
        self.published: dict[str, str] = {}
        self.machines: list[Machine] = []
        self._keys: dict[str, tuple[object, ...]] = {}
        self._last_push = 0.0
        self._stale_told: set[str] = set()

    def due(self, presences: Sequence[LocalPresence], now: float) -> bool:
        """Whether to push now: something changed, or a heartbeat is due."""
        keys = {p.agent: p.key() for p in presences}
        return keys != self._keys or now - self._last_push >= self.config.interval * 0.9

    def exchange(self, store: Store, presences: Sequence[LocalPresence]) -> SyncReport:
        now = time.time()
        remote = self.config.name
        pushed = False
        try:
            if self.due(presences, now):
                # Unchanged agents keep their record: the machine's heartbeat says they live.
                unchanged = {p.agent for p in presences if self._keys.get(p.agent) == p.key()}
                self.published = publish(self.cwd, remote, self.machine, presences,
                                         self.published, now=now, unchanged=unchanged)
                self._keys = {p.agent: p.key() for p in presences}
                self._last_push = now
                pushed = True
            fetch(self.cwd, remote)
        except RemoteUnreachable as exc:
            before = state.mark_failing(store, remote, now, exc.message)
            if before.failing_since is None:
                log.warning("remote %s unreachable: %s", remote, exc.message)
                record_event(store, EventKind.REMOTE_UNREACHABLE,
                             f"remote {remote} unreachable, working locally: {exc.message}",
                             severity="warning")
            stale = stale_machines(self.machines, now, self.config.interval)
            return SyncReport(False, list(self.machines), stale, error=exc.message)
        before = state.mark_ok(store, remote, now)
        if before.failing_since is not None:
            record_reconnect(store, remote, before.failing_since)
        self.machines = [m for m in read_machines(self.cwd, remote) if m.machine != self.machine]
        stale = stale_machines(self.machines, now, self.config.interval)
        for name in sorted(stale - self._stale_told):
            record_event(store, EventKind.REMOTE_MACHINE_STALE,
                         f"machine {name} has sent no heartbeat for over "
                         f"{3 * self.config.interval:g}s: shown as stale, its locks ignored",
                         severity="warning")
        self._stale_told = stale
        claim_report = reconcile_claims(self.cwd, store, remote, self.machine,
                                        stale_machines=stale)
        refresh_cache(self.cwd, store, remote, self.machine, stale)
        delivered = deliver_requests(self.cwd, store, remote, self.machine)
        return SyncReport(True, self.machines, stale, claim_report, pushed,
                          delivered=len(delivered))
