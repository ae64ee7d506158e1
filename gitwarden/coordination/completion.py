"""Agents marked done (`gitwarden done`), for `gitwarden wait` and the shared STATE.md."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gitwarden.store.db import Store

MIGRATIONS = [
    """
    CREATE TABLE completions (
        agent TEXT PRIMARY KEY,
        ts REAL NOT NULL,
        summary TEXT NOT NULL DEFAULT ''
    )
    """,
]


@dataclass(frozen=True)
class Completion:
    agent: str
    ts: float
    summary: str


def ready(store: Store) -> Store:
    store.ensure_schema("completion", MIGRATIONS)
    return store


def mark_done(store: Store, agent: str, summary: str = "") -> Completion:
    ready(store)
    now = time.time()
    with store.immediate() as conn:
        conn.execute("INSERT INTO completions(agent, ts, summary) VALUES (?,?,?) "
                     "ON CONFLICT(agent) DO UPDATE SET ts = excluded.ts, "
                     "summary = excluded.summary", (agent, now, summary))
    return Completion(agent, now, summary)


def clear_done(store: Store, agent: str) -> bool:
    ready(store)
    with store.immediate() as conn:
        return conn.execute("DELETE FROM completions WHERE agent = ?", (agent,)).rowcount > 0


def completions(store: Store) -> dict[str, Completion]:
    ready(store)
    rows = store.conn.execute("SELECT agent, ts, summary FROM completions").fetchall()
    return {row[0]: Completion(*row) for row in rows}
