"""The event log: everything gitwarden noticed or did, in order."""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gitwarden.errors import UsageError
from gitwarden.store.db import Store, prune_rows


class EventKind(StrEnum):
    """Every kind of event gitwarden records, in one spelling: `area.what-happened`."""

    AGENT_PAUSED = "agent.paused"
    AGENT_RESUMED = "agent.resumed"
    AGENT_RESUMED_ALL = "agent.resumed-all"
    AGENT_DONE = "agent.done"
    AGENT_UNDONE = "agent.undone"
    KILLSWITCH_ENGAGED = "killswitch.engaged"
    LOCK_RELEASED = "lock.released"
    LOCK_FORCE_RELEASED = "lock.force-released"
    LOCK_STALE_RELEASED = "lock.stale-released"
    REQUEST_SENT = "request.sent"
    VIOLATION_LOCKED = "violation.locked"
    VIOLATION_SCOPE = "violation.scope"
    GUARD_BYPASSED = "guard.bypassed"
    GUARD_REJECTED = "guard.rejected"
    CONTEXT_REFRESH_FAILED = "context.refresh-failed"
    OVERLAP_OPENED = "overlap.opened"
    OVERLAP_CHANGED = "overlap.changed"
    OVERLAP_RECLASSIFIED = "overlap.reclassified"
    OVERLAP_RESOLVED = "overlap.resolved"
    CHECKPOINT_CREATED = "checkpoint.created"
    CHECKPOINT_LEFT_OUT = "checkpoint.left-out"
    CHECKPOINT_PRUNED = "checkpoint.pruned"
    ROLLBACK_APPLIED = "rollback.applied"
    HEALTH_PASS = "health.pass"
    HEALTH_FAIL = "health.fail"
    HEALTH_SKIP = "health.skip"
    HEALTH_FLAKY = "health.flaky"
    HEALTH_ERROR = "health.error"
    HEALTH_CULPRIT = "health.culprit"
    HEALTH_CULPRIT_KNOWN = "health.culprit-known"
    HEALTH_BASE_BROKEN = "health.base-broken"
    HEALTH_PREEXISTING = "health.preexisting"
    HEALTH_REVERT = "health.revert"
    HEALTH_REVERT_REFUSED = "health.revert-refused"
    HEALTH_INTEGRATION = "health.integration"
    HEALTH_CONFIG_EDITED = "health.config-edited"
    WATCH_LIMIT = "watch.limit"
    DAEMON_STARTED = "daemon.started"
    DAEMON_STOPPED = "daemon.stopped"
    CONFIG_ERROR = "config.error"
    CONFIG_RELOADED = "config.reloaded"
    STORE_REOPENED = "store.reopened"
    LOCKFILE_REMOVED = "lockfile.removed"
    DOCTOR_FIXED = "doctor.fixed"
    LOCK_ACQUIRED = "lock.acquired"
    REQUEST_CLOSED = "request.closed"
    AGENT_ADDED = "agent.added"
    AGENT_REMOVED = "agent.removed"
    HEALTH_SUPERSEDED = "health.superseded"
    HEALTH_LOGS_PRUNED = "health.logs-pruned"
    BASE_CONFLICT = "base.conflict"
    BASE_STALE = "base.stale"
    BASE_FETCHED = "base.fetched"
    BASE_FETCH_FAILED = "base.fetch-failed"
    SYNC_APPLIED = "sync.applied"
    SYNC_REFUSED = "sync.refused"
    LAND_QUEUED = "land.queued"
    LAND_LANDED = "land.landed"
    LAND_EJECTED = "land.ejected"
    LAND_RETRIED = "land.retried"
    LAND_REFUSED = "land.refused"
    LAND_SNAPSHOT = "land.snapshot"
    IDENTITY_REFUSED = "identity.refused"
    USER_ONLY_REFUSED = "identity.user-only-refused"
    LOCK_COVERS_OTHERS = "lock.covers-others"
    REMOTE_UNREACHABLE = "remote.unreachable"
    REMOTE_RECONNECTED = "remote.reconnected"
    REMOTE_LOCK_LOST = "remote.lock-lost"
    REMOTE_MACHINE_STALE = "remote.machine-stale"
    STATE_PRUNED = "state.pruned"
    OBJECTS_REPACKED = "objects.repacked"


def kinds_by_area() -> dict[str, list[str]]:
    """Every event kind, grouped by its area (the part before the dot), in declaration order."""
    areas: dict[str, list[str]] = {}
    for kind in EventKind:
        areas.setdefault(kind.value.partition(".")[0], []).append(kind.value)
    return areas


def match_kinds(words: Sequence[str], also: Sequence[str] = ()) -> list[str]:
    """The event kinds that `--kind` words name: a whole kind (`health.culprit`), an area
    (`health`, `health.*`: every `health.` kind) or the start of a kind (`lock.force`).
    `also`: further kinds to accept (kinds found in the log). A word naming none is a
    UsageError suggesting the nearest area or kind."""
    known = [kind.value for kind in EventKind]
    known += [kind for kind in also if kind not in known]
    matched: list[str] = []
    for word in words:
        text = word.strip().lower().rstrip(".*")
        if text in known:
            found = [text]
        else:
            prefix = text if "." in text else text + "."
            found = [k for k in known if k.startswith(prefix)]
        if not found:
            areas = sorted(kinds_by_area())
            close = (difflib.get_close_matches(text, areas, n=2, cutoff=0.6)
                     or difflib.get_close_matches(text, known, n=2, cutoff=0.6))
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise UsageError(f"--kind {word!r}: no such event kind{hint}; "
                             "`gitwarden events --kinds` lists them")
        matched.extend(k for k in found if k not in matched)
    return matched


MIGRATIONS = [
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL DEFAULT 'info',
        agent TEXT,
        path TEXT,
        message TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_ts ON events(ts);
    CREATE INDEX events_kind ON events(kind, ts)
    """,
]


@dataclass(frozen=True)
class Event:
    id: int
    ts: float
    kind: str
    severity: str
    agent: str | None
    path: str | None
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.ts, "kind": self.kind, "severity": self.severity,
                "agent": self.agent, "path": self.path, "message": self.message,
                "data": dict(self.data)}


def _ready(store: Store) -> Store:
    store.ensure_schema("events", MIGRATIONS)
    return store


def record_event(
    store: Store,
    kind: EventKind,
    message: str,
    *,
    agent: str | None = None,
    path: str | None = None,
    severity: str = "info",
    data: Mapping[str, Any] | None = None,
    ts: float | None = None,
) -> int:
    """Append an event and return its id."""
    _ready(store)
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT INTO events(ts, kind, severity, agent, path, message, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ts if ts is not None else time.time(), kind, severity, agent, path, message,
             json.dumps(dict(data or {}), sort_keys=True)),
        )
        return int(cursor.lastrowid or 0)


def list_events(
    store: Store,
    *,
    after_id: int = 0,
    since: float | None = None,
    kinds: Sequence[str] = (),
    agent: str | None = None,
    limit: int = 1000,
) -> list[Event]:
    """Events oldest first, filtered."""
    _ready(store)
    clauses = ["id > ?"]
    params: list[Any] = [after_id]
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if kinds:
        clauses.append(f"kind IN ({','.join('?' * len(kinds))})")
        params.extend(kinds)
    if agent is not None:
        clauses.append("agent = ?")
        params.append(agent)
    # Newest `limit` events, returned oldest first.
    rows = store.conn.execute(
        f"SELECT id, ts, kind, severity, agent, path, message, data FROM events "
        f"WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [Event(id=r[0], ts=r[1], kind=r[2], severity=r[3], agent=r[4], path=r[5],
                  message=r[6], data=json.loads(r[7] or "{}")) for r in reversed(rows)]


def recorded_kinds(store: Store) -> list[str]:
    """Every kind the log holds, whether or not this version knows it."""
    _ready(store)
    return [row[0] for row in store.conn.execute("SELECT DISTINCT kind FROM events")]


def record_notice(store: Store, kind: EventKind, message: str, *, title: str,
                  body: str | None = None, agent: str | None = None, path: str | None = None,
                  severity: str = "warning", data: Mapping[str, Any] | None = None,
                  dedup: str | None = None) -> int:
    """Record an event that also becomes a desktop notification (`title`, and `body`,
    which defaults to the message); `dedup` keys notifications that must be sent once."""
    return record_event(store, kind, message, agent=agent, path=path, severity=severity,
                        data=notice(data, title, message if body is None else body, dedup))


def notice(data: Mapping[str, Any] | None, title: str, body: str,
           dedup: str | None = None) -> dict[str, Any]:
    """Event data that asks the daemon for a desktop notification."""
    payload: dict[str, Any] = {**dict(data or {}), "notify": True, "title": title, "body": body}
    if dedup is not None:
        payload["dedup"] = dedup
    return payload


def is_notice(data: Mapping[str, Any]) -> bool:
    """Whether an event's data asks for a notification."""
    return bool(data.get("notify"))


def prune_events(store: Store, *, older_than: float, max_rows: int,
                 dry_run: bool = False) -> int:
    """Drop events older than `older_than` and all but the newest `max_rows`; ids are never
    reused (AUTOINCREMENT), so readers following the log by id lose nothing newer."""
    _ready(store)
    return prune_rows(store, "events", time_column="ts", older_than=older_than,
                      max_rows=max_rows, dry_run=dry_run)
