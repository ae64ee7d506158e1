"""The activity log: every file write, create, delete or move seen in an agent worktree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gitwarden.store.db import Store, prune_rows

MIGRATIONS = [
    """
    CREATE TABLE activity (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        agent TEXT NOT NULL,
        path TEXT NOT NULL,
        action TEXT NOT NULL
    );
    CREATE INDEX activity_ts ON activity(ts);
    CREATE INDEX activity_path ON activity(path, ts);
    CREATE INDEX activity_agent ON activity(agent, ts)
    """,
]

ACTIONS = ("write", "create", "delete", "move")


@dataclass(frozen=True)
class Activity:
    id: int
    ts: float
    agent: str
    path: str
    action: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.ts, "agent": self.agent, "path": self.path,
                "action": self.action}


def _ready(store: Store) -> Store:
    store.ensure_schema("activity", MIGRATIONS)
    return store


def record_activity(store: Store, rows: Iterable[tuple[float, str, str, str]]) -> int:
    """Append (ts, agent, path, action) rows; returns how many were written."""
    batch = list(rows)
    if not batch:
        return 0
    _ready(store)
    with store.immediate() as conn:
        conn.executemany("INSERT INTO activity(ts, agent, path, action) VALUES (?, ?, ?, ?)",
                         batch)
    return len(batch)


def list_activity(store: Store, *, agent: str | None = None, path: str | None = None,
                  since: float | None = None, limit: int = 1000) -> list[Activity]:
    """Newest `limit` matching rows, oldest first. `path` matches a file or a directory."""
    _ready(store)
    clauses: list[str] = []
    params: list[Any] = []
    if agent is not None:
        clauses.append("agent = ?")
        params.append(agent)
    if path is not None:
        prefix = path.rstrip("/")
        clauses.append("(path = ? OR (path >= ? AND path < ?))")
        params.extend([prefix, prefix + "/", prefix + "0"])
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = store.conn.execute(
        f"SELECT id, ts, agent, path, action FROM activity {where} ORDER BY id DESC LIMIT ?",
        (*params, limit)).fetchall()
    return [Activity(*row) for row in reversed(rows)]


def prune_activity(store: Store, *, older_than: float, max_rows: int,
                   dry_run: bool = False) -> int:
    """Drop rows older than `older_than` (a timestamp) and all but the newest `max_rows`."""
    _ready(store)
    return prune_rows(store, "activity", time_column="ts", older_than=older_than,
                      max_rows=max_rows, dry_run=dry_run)
