"""What `gitwarden top` shows, as plain data, and when it must be read again.

Read-only: nothing here writes the store, a ref or a worktree. With a daemon, a poll is one
request on the control socket plus two indexed `max(id)` queries; when one of those changed,
overlaps, events and activity are read from the store at once, and the status report (git
status of every worktree) at most every MIN_STATUS_GAP seconds while agents keep writing,
and every FULL_REFRESH seconds in any case.
The landing queue and the health progress rows (which change without an event) are part of
the cheap signature too.
Without a daemon, nothing records file events, so the report is rebuilt from git every
POLL_WITHOUT_DAEMON seconds and the screen says so.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.control.socket import lock_held, request
from gitwarden.coordination.lock_rules import Lock
from gitwarden.coordination.locks import list_locks
from gitwarden.errors import GitwardenError
from gitwarden.health.table import progress
from gitwarden.landing.queue import QueueEntry, entries
from gitwarden.overlaps.report import collect_conflicts
from gitwarden.store.activity import list_activity
from gitwarden.store.db import DB_NAME, Store
from gitwarden.store.events import Event, list_events
from gitwarden.views.status import collect_status

FULL_REFRESH = 30.0
MIN_STATUS_GAP = 2.0
POLL_WITHOUT_DAEMON = 10.0
ACTIVITY_MINUTES = 60
EVENTS_KEPT = 200
QUEUE_FINISHED_SHOWN = 10


@dataclass
class TopData:
    """One reading of everything on the screen."""

    source: str
    daemon_pid: int | None
    base: str
    agents: list[dict[str, Any]]
    overlaps: list[dict[str, Any]]
    activity: dict[str, list[int]]
    last_write: dict[str, float]
    events: list[Event]
    locks: list[Lock]
    kill_switch: str | None
    queue: list[QueueEntry] = field(default_factory=list)
    read_at: float = field(default_factory=time.time)


class TopFeed:
    """Polls the daemon (or the store and git) and says when the screen is out of date."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._signature: object = None
        self._status: dict[str, Any] | None = None
        self._status_at = 0.0
        self._status_stale = True
        self._overlaps: list[dict[str, Any]] = []

    def daemon_snapshot(self) -> dict[str, Any] | None:
        """The daemon's answer to `status`, or None when no daemon guards the repository."""
        if not lock_held(self.workspace.repo.state_dir):
            return None
        try:
            answer = request(self.workspace.repo, "status", timeout=2.0)
        except GitwardenError:
            return None
        return answer if answer.get("ok") else None

    def poll(self, *, force: bool = False) -> TopData | None:
        """A new reading when something changed (or `force`), else None."""
        snapshot = self.daemon_snapshot()
        now = time.monotonic()
        every = FULL_REFRESH if snapshot is not None else POLL_WITHOUT_DAEMON
        signature = (self._daemon_signature(snapshot), self._store_ids())
        changed = signature != self._signature
        self._signature = signature
        self._status_stale = self._status_stale or changed
        since = now - self._status_at
        full = (force or self._status is None or since >= every
                or (self._status_stale and since >= MIN_STATUS_GAP))
        if not (changed or full):
            return None
        return self.read(snapshot, full=full)

    def read(self, snapshot: dict[str, Any] | None, *, full: bool = True) -> TopData:
        """Everything on the screen. The status report (git status of every worktree) and,
        without a daemon, the overlaps (merges computed from git) are read again only when
        `full`; the rest are store reads."""
        if full or self._status is None:
            self.workspace.refresh()
            self._status = collect_status(self.workspace)
            self._status_at = time.monotonic()
            self._status_stale = False
            if snapshot is None:
                self._overlaps = collect_conflicts(self.workspace)["overlaps"]
        report = self._status
        if snapshot is not None:
            self._overlaps = collect_conflicts(self.workspace)["overlaps"]
            source = f"live from the daemon (pid {snapshot.get('pid')})"
        else:
            source = (f"no daemon: reading the store and git every {POLL_WITHOUT_DAEMON:.0f}s "
                      "(start `gitwarden watch` for live updates)")
        activity = {a["name"]: [0] * ACTIVITY_MINUTES for a in report["agents"]}
        last_write: dict[str, float] = {}
        events: list[Event] = []
        held: list[Lock] = []
        landing: list[QueueEntry] = []
        agents = [dict(a) for a in report["agents"]]
        if self._has_store():
            with Store.open(self.workspace.repo) as store:
                activity, last_write = _activity(store, [a["name"] for a in agents])
                events = list_events(store, limit=EVENTS_KEPT)
                held = list_locks(store, include_expired=False)
                if _has_table(store, "land_queue"):
                    landing = entries(store, limit=QUEUE_FINISHED_SHOWN)
                if _has_table(store, "health_progress"):
                    _add_health_progress(store, agents)
        switch = report.get("kill_switch")
        base = report["base"]
        return TopData(
            source=source, daemon_pid=snapshot.get("pid") if snapshot else None,
            base=f"{base['branch']} at {(base['commit'] or '-')[:10]}",
            agents=agents, overlaps=self._overlaps, activity=activity,
            last_write=last_write, events=events, locks=held,
            kill_switch=switch["reason"] if switch else None, queue=landing)

    def _has_store(self) -> bool:
        return (self.workspace.repo.state_dir / DB_NAME).exists()

    def _store_ids(self) -> tuple[object, ...]:
        """The newest event and activity ids: whatever gitwarden does (a pause, a lock, a
        checkpoint, a health verdict, a file event) adds a row to one of them. The landing
        queue's newest change and the health checks under way are added: a queue entry moving
        on or a check starting writes no event."""
        if not self._has_store():
            return (0, 0)
        queries = ("SELECT max(id) FROM events", "SELECT max(id) FROM activity",
                   "SELECT max(id), max(updated_ts), count(*) FROM land_queue",
                   "SELECT group_concat(agent || ' ' || commit_id || ' ' || state || ' ' || pid)"
                   " FROM health_progress")
        with Store.open(self.workspace.repo) as store:
            found: list[object] = []
            for query in queries:
                try:
                    found.append(store.conn.execute(query).fetchone())
                except sqlite3.Error:  # the table does not exist yet
                    found.append(None)
        return tuple(found)

    @staticmethod
    def _daemon_signature(snapshot: dict[str, Any] | None) -> object:
        if snapshot is None:
            return None
        return (repr(snapshot.get("agents")), repr(snapshot.get("overlaps")))


def _has_table(store: Store, name: str) -> bool:
    """Whether a feature made its table yet: the view reads, it never creates one."""
    row = store.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                             (name,)).fetchone()
    return row is not None


def _add_health_progress(store: Store, agents: list[dict[str, Any]]) -> None:
    """`health_progress`: `running` or `pending` when the daemon is checking the agent's
    current HEAD (a check of an older commit, or of a process gone, says nothing of HEAD)."""
    for agent in agents:
        underway = progress(store, agent["name"])
        agent["health_progress"] = (
            underway.state if underway is not None and agent.get("head")
            and underway.commit == agent["head"] and underway.alive else None)


def _activity(store: Store, names: list[str]) -> tuple[dict[str, list[int]], dict[str, float]]:
    """Writes per minute over the last hour (oldest minute first), and each agent's last one."""
    now = time.time()
    start = now - ACTIVITY_MINUTES * 60
    buckets = {name: [0] * ACTIVITY_MINUTES for name in names}
    last: dict[str, float] = {}
    for row in list_activity(store, since=start, limit=200_000):
        minute = min(int((row.ts - start) // 60), ACTIVITY_MINUTES - 1)
        if row.agent in buckets:
            buckets[row.agent][minute] += 1
        last[row.agent] = max(last.get(row.agent, 0.0), row.ts)
    for name in names:
        if name not in last:
            newest = list_activity(store, agent=name, limit=1)
            if newest:
                last[name] = newest[-1].ts
    return buckets, last
