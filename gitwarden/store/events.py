"""The event log: everything gitwarden noticed or did, in order."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitwarden.store.db import Store

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
    kind: str,
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
