"""The landing queue: agents waiting to land on the base, in order, and what became of them
(queued, running, landed, ejected, refused). Owned by landing/; nothing else reads it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gitwarden.store.db import Store

MIGRATIONS = [
    """
    CREATE TABLE land_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        head TEXT NOT NULL,
        strategy TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        log TEXT,
        enqueued_ts REAL NOT NULL,
        updated_ts REAL NOT NULL,
        landed_commit TEXT,
        by TEXT NOT NULL DEFAULT 'user'
    );
    CREATE INDEX land_queue_state ON land_queue(state, id)
    """,
]

QUEUED = "queued"
RUNNING = "running"
LANDED = "landed"
EJECTED = "ejected"
REFUSED = "refused"
WAITING = (QUEUED, RUNNING)


@dataclass(frozen=True)
class QueueEntry:
    id: int
    agent: str
    head: str
    strategy: str
    state: str
    reason: str
    log: str | None
    enqueued_ts: float
    updated_ts: float
    landed_commit: str | None
    by: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "agent": self.agent, "head": self.head,
                "strategy": self.strategy, "state": self.state, "reason": self.reason or None,
                "log": self.log, "enqueued": self.enqueued_ts, "updated": self.updated_ts,
                "landed_commit": self.landed_commit, "by": self.by}


def _ready(store: Store) -> Store:
    store.ensure_schema("landing", MIGRATIONS)
    return store


def enqueue(store: Store, agent: str, head: str, strategy: str, by: str = "user") -> int:
    """Queue `agent` at `head`; an agent already waiting is moved to its new head in place."""
    _ready(store)
    now = time.time()
    with store.immediate() as conn:
        row = conn.execute("SELECT id FROM land_queue WHERE agent = ? AND state IN (?, ?)",
                           (agent, *WAITING)).fetchone()
        if row is not None:
            conn.execute("UPDATE land_queue SET head = ?, strategy = ?, updated_ts = ? "
                         "WHERE id = ?", (head, strategy, now, row[0]))
            return int(row[0])
        cursor = conn.execute(
            "INSERT INTO land_queue(agent, head, strategy, state, enqueued_ts, updated_ts, by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (agent, head, strategy, QUEUED, now, now, by))
        return int(cursor.lastrowid or 0)


def record_refusal(store: Store, agent: str, head: str, strategy: str, reason: str,
                   by: str = "user") -> int:
    _ready(store)
    now = time.time()
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT INTO land_queue(agent, head, strategy, state, reason, enqueued_ts, "
            "updated_ts, by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (agent, head, strategy, REFUSED, reason, now, now, by))
        return int(cursor.lastrowid or 0)


def set_state(store: Store, entry_id: int, state: str, *, reason: str = "",
              log: str | None = None, landed_commit: str | None = None) -> None:
    _ready(store)
    with store.immediate() as conn:
        conn.execute("UPDATE land_queue SET state = ?, reason = ?, log = COALESCE(?, log), "
                     "landed_commit = COALESCE(?, landed_commit), updated_ts = ? WHERE id = ?",
                     (state, reason, log, landed_commit, time.time(), entry_id))


def waiting(store: Store) -> list[QueueEntry]:
    """Queued and running entries, in queue order."""
    _ready(store)
    return _query(store, "WHERE state IN (?, ?) ORDER BY id", WAITING)


def entries(store: Store, limit: int = 50) -> list[QueueEntry]:
    """Waiting entries plus the newest finished ones, in queue order."""
    _ready(store)
    done = _query(store, "WHERE state NOT IN (?, ?) ORDER BY id DESC LIMIT ?",
                  (*WAITING, limit))
    return sorted([*done, *waiting(store)], key=lambda e: e.id)


def requeue_running(store: Store) -> int:
    """Entries left running by a landing that was killed go back to the queue."""
    _ready(store)
    with store.immediate() as conn:
        return int(conn.execute("UPDATE land_queue SET state = ?, updated_ts = ? "
                                "WHERE state = ?", (QUEUED, time.time(), RUNNING)).rowcount)


def _query(store: Store, tail: str, params: tuple[Any, ...]) -> list[QueueEntry]:
    rows = store.conn.execute(
        "SELECT id, agent, head, strategy, state, reason, log, enqueued_ts, updated_ts, "
        f"landed_commit, by FROM land_queue {tail}", params).fetchall()
    return [QueueEntry(*row) for row in rows]
