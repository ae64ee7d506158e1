"""Overlaps the daemon has seen: open ones (live state) and resolved ones (history)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitwarden.store.db import Store, prune_rows

MIGRATIONS = [
    """
    CREATE TABLE overlaps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL,
        agents TEXT NOT NULL,
        first_agent TEXT NOT NULL,
        opened_ts REAL NOT NULL,
        updated_ts REAL NOT NULL,
        resolved_ts REAL,
        classification TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX overlaps_open ON overlaps(resolved_ts, path)
    """,
]


@dataclass(frozen=True)
class OverlapRecord:
    id: int
    path: str
    agents: tuple[str, ...]
    first_agent: str
    opened_ts: float
    updated_ts: float
    resolved_ts: float | None
    classification: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self, now: float) -> dict[str, Any]:
        return {"path": self.path, "agents": list(self.agents), "first": self.first_agent,
                "opened": self.opened_ts, "age": max(0.0, now - self.opened_ts),
                "classification": self.classification, "hunks": self.detail.get("hunks", []),
                "reason": self.detail.get("reason"), "resolved": self.resolved_ts}


def _ready(store: Store) -> Store:
    store.ensure_schema("overlaps", MIGRATIONS)
    return store


def open_overlap(store: Store, path: str, agents: Sequence[str], first_agent: str,
                 ts: float, classification: str | None = None,
                 detail: Mapping[str, Any] | None = None) -> int:
    _ready(store)
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT INTO overlaps(path, agents, first_agent, opened_ts, updated_ts, "
            "classification, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (path, json.dumps(list(agents)), first_agent, ts, ts, classification,
             json.dumps(dict(detail or {}), sort_keys=True)))
        return int(cursor.lastrowid or 0)


def update_overlap(store: Store, path: str, *, ts: float, agents: Sequence[str] | None = None,
                   classification: str | None = None,
                   detail: Mapping[str, Any] | None = None) -> None:
    """Change the open overlap on `path` (agents and/or classification)."""
    _ready(store)
    sets = ["updated_ts = ?"]
    params: list[Any] = [ts]
    if agents is not None:
        sets.append("agents = ?")
        params.append(json.dumps(list(agents)))
    if classification is not None:
        sets.append("classification = ?")
        params.append(classification)
    if detail is not None:
        sets.append("detail = ?")
        params.append(json.dumps(dict(detail), sort_keys=True))
    with store.immediate() as conn:
        conn.execute(f"UPDATE overlaps SET {', '.join(sets)} "
                     "WHERE path = ? AND resolved_ts IS NULL", (*params, path))


def resolve_overlap(store: Store, path: str, ts: float) -> None:
    _ready(store)
    with store.immediate() as conn:
        conn.execute("UPDATE overlaps SET resolved_ts = ?, updated_ts = ? "
                     "WHERE path = ? AND resolved_ts IS NULL", (ts, ts, path))


def open_overlaps(store: Store) -> list[OverlapRecord]:
    _ready(store)
    return _query(store, "WHERE resolved_ts IS NULL ORDER BY path", ())


def _query(store: Store, tail: str, params: Sequence[Any]) -> list[OverlapRecord]:
    rows = store.conn.execute(
        "SELECT id, path, agents, first_agent, opened_ts, updated_ts, resolved_ts, "
        f"classification, detail FROM overlaps {tail}", tuple(params)).fetchall()
    return [OverlapRecord(id=r[0], path=r[1], agents=tuple(json.loads(r[2])), first_agent=r[3],
                          opened_ts=r[4], updated_ts=r[5], resolved_ts=r[6],
                          classification=r[7], detail=json.loads(r[8] or "{}"))
            for r in rows]


def prune_overlaps(store: Store, *, older_than: float, max_rows: int,
                   dry_run: bool = False) -> int:
    """Drop resolved overlaps resolved before `older_than`, and the oldest resolved ones
    beyond `max_rows`; an open overlap is live state and always stays."""
    _ready(store)
    return prune_rows(store, "overlaps", time_column="resolved_ts", older_than=older_than,
                      max_rows=max_rows, keep="resolved_ts IS NULL", dry_run=dry_run)
