"""Requests between agents: `gitwarden request --to B "text"` lands in B's inbox."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gitwarden.store.db import Store, prune_rows

MIGRATIONS = [
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        from_agent TEXT NOT NULL,
        to_agent TEXT NOT NULL,
        text TEXT NOT NULL,
        closed_at REAL,
        closed_by TEXT
    );
    CREATE INDEX requests_to ON requests(to_agent, closed_at)
    """,
]


@dataclass(frozen=True)
class Request:
    id: int
    ts: float
    from_agent: str
    to_agent: str
    text: str
    closed_at: float | None
    closed_by: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "time": self.ts, "from": self.from_agent, "to": self.to_agent,
                "text": self.text, "open": self.is_open, "closed_at": self.closed_at,
                "closed_by": self.closed_by}


def ready(store: Store) -> Store:
    store.ensure_schema("requests", MIGRATIONS)
    return store


def add_request(store: Store, from_agent: str, to_agent: str, text: str) -> Request:
    ready(store)
    now = time.time()
    with store.immediate() as conn:
        cursor = conn.execute("INSERT INTO requests(ts, from_agent, to_agent, text) "
                              "VALUES (?,?,?,?)", (now, from_agent, to_agent, text))
        request_id = int(cursor.lastrowid or 0)
    return Request(request_id, now, from_agent, to_agent, text, None, None)


def close_request(store: Store, request_id: int, by: str) -> tuple[Request | None, bool]:
    """Close a request: (the request, None when there is no such request; whether this call
    closed it). Closing twice keeps the first close."""
    ready(store)
    with store.immediate() as conn:
        cursor = conn.execute("UPDATE requests SET closed_at = ?, closed_by = ? "
                              "WHERE id = ? AND closed_at IS NULL", (time.time(), by, request_id))
        closed_now = cursor.rowcount > 0
    return get_request(store, request_id), closed_now


def get_request(store: Store, request_id: int) -> Request | None:
    ready(store)
    row = store.conn.execute("SELECT id, ts, from_agent, to_agent, text, closed_at, closed_by "
                             "FROM requests WHERE id = ?", (request_id,)).fetchone()
    return Request(*row) if row else None


def list_requests(store: Store, *, to_agent: str | None = None, include_closed: bool = False,
                  limit: int = 500) -> list[Request]:
    ready(store)
    clauses, params = ["1"], []
    if to_agent is not None:
        clauses.append("to_agent = ?")
        params.append(to_agent)
    if not include_closed:
        clauses.append("closed_at IS NULL")
    rows = store.conn.execute(
        "SELECT id, ts, from_agent, to_agent, text, closed_at, closed_by FROM requests "
        f"WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?", (*params, limit)).fetchall()
    return [Request(*row) for row in rows]


def prune_requests(store: Store, *, older_than: float, max_rows: int,
                   dry_run: bool = False) -> int:
    """Drop requests closed before `older_than`, and the oldest closed ones beyond
    `max_rows`; an open request waits for its agent and always stays."""
    ready(store)
    return prune_rows(store, "requests", time_column="closed_at", older_than=older_than,
                      max_rows=max_rows, keep="closed_at IS NULL", dry_run=dry_run)
