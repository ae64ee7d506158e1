"""Checkpoint state in SQLite: clean marks and the rollback log.

The checkpoints themselves live in git (the private ref chains); this store only adds what
git cannot hold: which states are known clean, and which rollbacks can be undone.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from gitwarden.store.db import Store, placeholders, prune_rows

MIGRATIONS = [
    """
    CREATE TABLE clean_marks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        commit_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        head TEXT,
        ts REAL NOT NULL,
        source TEXT NOT NULL DEFAULT 'user',
        UNIQUE(agent, commit_id)
    );
    CREATE INDEX clean_marks_agent ON clean_marks(agent, ts);
    CREATE TABLE rollbacks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        ts REAL NOT NULL,
        target TEXT NOT NULL,
        safety TEXT NOT NULL,
        backup_ref TEXT,
        old_head TEXT,
        new_head TEXT,
        branch TEXT,
        undone INTEGER NOT NULL DEFAULT 0,
        is_undo INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX rollbacks_agent ON rollbacks(agent, id)
    """,
    # A rollback is recorded before it touches anything (completed = 0) so that one killed
    # half-way can still be undone; completed becomes 1 when its files are written.
    "ALTER TABLE rollbacks ADD COLUMN completed INTEGER NOT NULL DEFAULT 1",
]

KIND_CHECKPOINT = "checkpoint"
KIND_COMMIT = "commit"


@dataclass(frozen=True)
class CleanMark:
    agent: str
    commit: str
    kind: str
    head: str | None
    ts: float
    source: str


@dataclass(frozen=True)
class RollbackRecord:
    id: int
    agent: str
    ts: float
    target: str
    safety: str
    backup_ref: str | None
    old_head: str | None
    new_head: str | None
    branch: str | None
    undone: bool
    is_undo: bool
    completed: bool = True


def _ready(store: Store) -> Store:
    store.ensure_schema("checkpoints", MIGRATIONS)
    return store


def add_clean_mark(store: Store, agent: str, commit: str, *, kind: str, head: str | None,
                   source: str = "user", ts: float | None = None) -> None:
    _ready(store)
    with store.immediate() as conn:
        conn.execute(
            "INSERT INTO clean_marks(agent, commit_id, kind, head, ts, source) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(agent, commit_id) DO UPDATE SET "
            "ts = excluded.ts, source = excluded.source, head = excluded.head",
            (agent, commit, kind, head, ts if ts is not None else time.time(), source),
        )


def clean_marks(store: Store, agent: str | None = None) -> list[CleanMark]:
    """Clean marks, newest first."""
    _ready(store)
    sql = "SELECT agent, commit_id, kind, head, ts, source FROM clean_marks"
    params: tuple[str, ...] = ()
    if agent is not None:
        sql += " WHERE agent = ?"
        params = (agent,)
    rows = store.conn.execute(sql + " ORDER BY ts DESC, id DESC", params).fetchall()
    return [CleanMark(agent=r[0], commit=r[1], kind=r[2], head=r[3], ts=r[4], source=r[5])
            for r in rows]


def record_rollback(store: Store, *, agent: str, target: str, safety: str,
                    backup_ref: str | None, old_head: str | None, new_head: str | None,
                    branch: str | None, is_undo: bool, completed: bool = True,
                    undoes: int | None = None) -> int:
    """Log a rollback; `undoes` (the id of the rollback an undo reverts) is marked undone in
    the same transaction, so a killed undo never leaves both or neither undoable."""
    _ready(store)
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT INTO rollbacks(agent, ts, target, safety, backup_ref, old_head, new_head, "
            "branch, is_undo, completed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (agent, time.time(), target, safety, backup_ref, old_head, new_head, branch,
             int(is_undo), int(completed)),
        )
        if undoes is not None:
            conn.execute("UPDATE rollbacks SET undone = 1 WHERE id = ?", (undoes,))
        return int(cursor.lastrowid or 0)


def mark_completed(store: Store, rollback_id: int) -> None:
    _ready(store)
    with store.immediate() as conn:
        conn.execute("UPDATE rollbacks SET completed = 1 WHERE id = ?", (rollback_id,))


def mark_undone(store: Store, rollback_id: int) -> None:
    _ready(store)
    with store.immediate() as conn:
        conn.execute("UPDATE rollbacks SET undone = 1 WHERE id = ?", (rollback_id,))


def rollbacks(store: Store, agent: str) -> list[RollbackRecord]:
    """The agent's rollbacks, newest first."""
    _ready(store)
    rows = store.conn.execute(
        "SELECT id, agent, ts, target, safety, backup_ref, old_head, new_head, branch, undone, "
        "is_undo, completed FROM rollbacks WHERE agent = ? ORDER BY id DESC",
        (agent,)).fetchall()
    return [RollbackRecord(id=r[0], agent=r[1], ts=r[2], target=r[3], safety=r[4],
                           backup_ref=r[5], old_head=r[6], new_head=r[7], branch=r[8],
                           undone=bool(r[9]), is_undo=bool(r[10]), completed=bool(r[11]))
            for r in rows]


def protected_commits(store: Store, agent: str, since: float) -> set[str]:
    """Safety checkpoints of recent rollbacks: retention must keep them."""
    return {r.safety for r in rollbacks(store, agent) if r.ts >= since}


def remap_commits(store: Store, agent: str, mapping: Iterable[tuple[str, str]]) -> None:
    """After a chain rewrite, point marks and rollback records at the new commit ids."""
    _ready(store)
    with store.immediate() as conn:
        for old, new in mapping:
            conn.execute("UPDATE OR IGNORE clean_marks SET commit_id = ? "
                         "WHERE agent = ? AND commit_id = ?", (new, agent, old))
            conn.execute("UPDATE rollbacks SET safety = ? WHERE agent = ? AND safety = ?",
                         (new, agent, old))
            conn.execute("UPDATE rollbacks SET target = ? WHERE agent = ? AND target = ?",
                         (new, agent, old))


# --- retention (issue 20) ---------------------------------------------------------------------

def prune_checkpoint_records(store: Store, *, marks_before: float, rollbacks_before: float,
                             max_rows: int | None, live_commits: Collection[str],
                             dry_run: bool = False) -> dict[str, int]:
    """Drop clean marks and rollback records no decision needs; returns rows removed per table.

    A clean mark stays while its checkpoint is still in a chain (`live_commits`), while it is
    newer than `marks_before`, and always for the newest mark of each agent (the last clean
    state a rollback goes back to). A rollback record stays inside the undo window (newer than
    `rollbacks_before`), and always while it is unfinished (a killed rollback to recover).
    """
    _ready(store)
    live = sorted(set(live_commits))
    marks_keep = (f"commit_id IN ({placeholders(live)}) OR rowid IN (SELECT m.id FROM "
                  "clean_marks m WHERE m.ts = (SELECT MAX(n.ts) FROM clean_marks n "
                  "WHERE n.agent = m.agent))")
    return {
        "clean_marks": prune_rows(store, "clean_marks", time_column="ts",
                                  older_than=marks_before, max_rows=max_rows, keep=marks_keep,
                                  params=live, dry_run=dry_run),
        "rollbacks": prune_rows(store, "rollbacks", time_column="ts",
                                older_than=rollbacks_before, max_rows=None,
                                keep="completed = 0", dry_run=dry_run),
    }
