"""The transaction journal: every change gitwarden makes to an agent's branch, index or files.

An entry is written before the first change and moves through phases:
`saving` (backup and stash being taken; the agent is untouched) -> `applying` (the saved
state is complete; files, index and branch may be anywhere between saved and target) ->
`done`, or `aborted` (nothing was changed) / `reverted` (put back to the saved state).
An entry left in `saving` or `applying` by a killed or failed process is finished or rolled
back by the next gitwarden command (see `checkpoints.transaction.recover`).
The rollbacks that are `done` and not `undone` form the agent's undo stack.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.store.db import Store, prune_rows

MIGRATIONS = [
    """
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        kind TEXT NOT NULL,
        phase TEXT NOT NULL,
        ts REAL NOT NULL,
        updated REAL NOT NULL,
        undoes INTEGER,
        undone INTEGER NOT NULL DEFAULT 0,
        was_paused INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX journal_agent ON journal(agent, id)
    """,
]

KIND_ROLLBACK = "rollback"
KIND_UNDO = "undo"
KIND_REMOVE = "remove"
KIND_RESTORE = "restore"

SAVING = "saving"
APPLYING = "applying"
DONE = "done"
ABORTED = "aborted"
REVERTED = "reverted"
UNFINISHED = (SAVING, APPLYING)


@dataclass(frozen=True)
class JournalEntry:
    id: int
    agent: str
    kind: str
    phase: str
    ts: float
    updated: float
    undoes: int | None
    undone: bool
    was_paused: bool
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def unfinished(self) -> bool:
        return self.phase in UNFINISHED

    @property
    def needed(self) -> bool:
        """An undo (of a rollback), a restore (of a removal) or a recovery may still use it."""
        return self.unfinished or (self.kind in (KIND_ROLLBACK, KIND_REMOVE)
                                   and self.phase == DONE and not self.undone)

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "agent": self.agent, "kind": self.kind, "phase": self.phase,
                "time": self.ts, "undoes": self.undoes, "undone": self.undone,
                "target": self.data.get("target", {}).get("commit"),
                "saved": self.data.get("saved", {}).get("commit"),
                "backup_ref": self.data.get("backup_ref"),
                "kept": self.data.get("kept", [])}


def _ready(store: Store) -> Store:
    store.ensure_schema("journal", MIGRATIONS)
    return store


def begin(store: Store, *, agent: str, kind: str, was_paused: bool,
          undoes: int | None = None, data: dict[str, Any] | None = None) -> int:
    _ready(store)
    now = time.time()
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT INTO journal(agent, kind, phase, ts, updated, undoes, was_paused, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (agent, kind, SAVING, now, now, undoes, int(was_paused),
             json.dumps(data or {}, sort_keys=True)))
        return int(cursor.lastrowid or 0)


def update(store: Store, entry_id: int, *, phase: str | None = None,
           data: dict[str, Any] | None = None) -> None:
    """Set the phase and/or merge keys into the data; an undo that is done marks what it
    undoes in the same database transaction (never both or neither undoable)."""
    _ready(store)
    with store.immediate() as conn:
        row = conn.execute("SELECT data, undoes FROM journal WHERE id = ?",
                           (entry_id,)).fetchone()
        if row is None:
            return
        merged = json.loads(row[0])
        merged.update(data or {})
        conn.execute("UPDATE journal SET phase = COALESCE(?, phase), data = ?, updated = ? "
                     "WHERE id = ?", (phase, json.dumps(merged, sort_keys=True), time.time(),
                                      entry_id))
        if phase == DONE and row[1] is not None:
            conn.execute("UPDATE journal SET undone = 1 WHERE id = ?", (row[1],))


def mark_undone(store: Store, entry_id: int) -> None:
    _ready(store)
    with store.immediate() as conn:
        conn.execute("UPDATE journal SET undone = 1 WHERE id = ?", (entry_id,))


_COLUMNS = "id, agent, kind, phase, ts, updated, undoes, undone, was_paused, data"


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(id=row[0], agent=row[1], kind=row[2], phase=row[3], ts=row[4],
                        updated=row[5], undoes=row[6], undone=bool(row[7]),
                        was_paused=bool(row[8]), data=json.loads(row[9]))


def entries(store: Store, agent: str | None = None) -> list[JournalEntry]:
    """Journal entries, newest first."""
    _ready(store)
    sql = f"SELECT {_COLUMNS} FROM journal"
    params: tuple[str, ...] = ()
    if agent is not None:
        sql += " WHERE agent = ?"
        params = (agent,)
    return [_entry(row) for row in store.conn.execute(sql + " ORDER BY id DESC", params)]


def get(store: Store, entry_id: int) -> JournalEntry | None:
    _ready(store)
    row = store.conn.execute(f"SELECT {_COLUMNS} FROM journal WHERE id = ?",
                             (entry_id,)).fetchone()
    return _entry(row) if row else None


def unfinished(store: Store, agent: str | None = None) -> list[JournalEntry]:
    return [e for e in entries(store, agent) if e.unfinished]


def undo_stack(store: Store, agent: str) -> list[JournalEntry]:
    """Rollbacks that can be undone, newest (the next to undo) first."""
    return [e for e in entries(store, agent)
            if e.kind == KIND_ROLLBACK and e.phase == DONE and not e.undone]


def referenced_digests(store: Store, since: float) -> set[str]:
    """Stash objects that journal entries newer than `since`, or still undoable, point at."""
    digests: set[str] = set()
    for entry in entries(store):
        keep = entry.ts >= since or entry.needed
        if not keep:
            continue
        for side in ("saved", "target"):
            for item in entry.data.get(side, {}).get("stash", []):
                digests.add(str(item["digest"]))
    return digests


def protected_commits(store: Store, agent: str, since: float) -> set[str]:
    """Saved states of recent or undoable transactions: retention keeps them."""
    kept: set[str] = set()
    for entry in entries(store, agent):
        if entry.ts >= since or entry.needed:
            commit = entry.data.get("saved", {}).get("commit")
            if commit:
                kept.add(str(commit))
    return kept


def protected_backups(store: Store, agent: str, since: float) -> set[str]:
    """Backup refs an unfinished transaction, a removal not restored, or an undo of a
    rollback newer than `since` still needs."""
    return {str(e.data["backup_ref"]) for e in entries(store, agent)
            if e.data.get("backup_ref") and (
                e.unfinished
                or (e.kind == KIND_REMOVE and e.phase == DONE and not e.undone)
                or (e.kind == KIND_ROLLBACK and e.phase == DONE and not e.undone
                    and e.ts >= since))}


def prune_journal(store: Store, *, before: float, dry_run: bool = False) -> int:
    """Drop finished transactions recorded before `before` (the undo window): they can no
    longer be undone. An unfinished one (a kill to recover from) always stays."""
    _ready(store)
    phases = ", ".join(f"'{phase}'" for phase in UNFINISHED)
    return prune_rows(store, "journal", time_column="ts", older_than=before, max_rows=None,
                      keep=f"phase IN ({phases})", dry_run=dry_run)


def _marker(workspace: Workspace, agent_name: str) -> Path:
    return workspace.repo.ensure_state_dir() / "journal" / agent_name


def set_marker(workspace: Workspace, agent_name: str, on: bool) -> None:
    """A file beside the state store that says "a transaction of this agent may be unfinished",
    so that every command can check for one with a single stat."""
    marker = _marker(workspace, agent_name)
    if on:
        marker.parent.mkdir(mode=0o700, exist_ok=True)
        marker.touch()
    else:
        marker.unlink(missing_ok=True)


def has_pending(workspace: Workspace, agent_name: str) -> bool:
    """Cheap check (one stat) for an unfinished transaction of the agent."""
    return (workspace.repo.state_dir / "journal" / agent_name).exists()
