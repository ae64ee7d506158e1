"""What this machine knows about the shared remote: its claims on remote lock refs and whether
the remote answered lately. Owned by gitwarden.remote; nothing else reads these tables."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gitwarden.store.db import Store

MIGRATIONS = [
    """
    CREATE TABLE remote_claims (
        ref TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        pattern TEXT NOT NULL,
        agent TEXT NOT NULL,
        commit_id TEXT,
        expires_at REAL,
        status TEXT NOT NULL,
        since REAL NOT NULL
    );
    CREATE TABLE remote_status (
        remote TEXT PRIMARY KEY,
        last_ok REAL,
        failing_since REAL,
        error TEXT
    );
    CREATE TABLE remote_delivered (
        id TEXT PRIMARY KEY,
        ts REAL NOT NULL
    )
    """,
]

HELD = "held"              # the remote's lock ref holds our commit
LOCAL_ONLY = "local-only"  # taken while the remote was unreachable: not claimed there yet
RELEASING = "releasing"    # released here while offline: the remote ref is still ours


@dataclass(frozen=True)
class Claim:
    ref: str
    kind: str
    pattern: str
    agent: str
    commit: str | None
    expires_at: float | None
    status: str
    since: float


@dataclass(frozen=True)
class RemoteStatus:
    remote: str
    last_ok: float | None
    failing_since: float | None
    error: str | None

    @property
    def reachable(self) -> bool | None:
        if self.failing_since is None:
            return None if self.last_ok is None else True
        return False

    def describe(self) -> str:
        """'ok', 'never reached' or 'unknown since 14:02 (unreachable: ...)'."""
        if self.failing_since is None:
            return "ok" if self.last_ok is not None else "not synced yet"
        since = self.last_ok if self.last_ok is not None else self.failing_since
        clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
        return f"unknown since {clock} (unreachable: {self.error})"


def ready(store: Store) -> Store:
    store.ensure_schema("remote", MIGRATIONS)
    return store


def claims(store: Store) -> dict[str, Claim]:
    ready(store)
    rows = store.conn.execute("SELECT ref, kind, pattern, agent, commit_id, expires_at, status, "
                              "since FROM remote_claims ORDER BY ref").fetchall()
    return {row[0]: Claim(*row) for row in rows}


def put_claim(store: Store, claim: Claim) -> None:
    ready(store)
    with store.immediate() as conn:
        conn.execute("INSERT INTO remote_claims(ref, kind, pattern, agent, commit_id, expires_at, "
                     "status, since) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(ref) DO UPDATE SET "
                     "kind = excluded.kind, pattern = excluded.pattern, agent = excluded.agent, "
                     "commit_id = excluded.commit_id, expires_at = excluded.expires_at, "
                     "status = excluded.status, since = excluded.since",
                     (claim.ref, claim.kind, claim.pattern, claim.agent, claim.commit,
                      claim.expires_at, claim.status, claim.since))


def drop_claim(store: Store, ref: str) -> None:
    ready(store)
    with store.immediate() as conn:
        conn.execute("DELETE FROM remote_claims WHERE ref = ?", (ref,))


def status(store: Store, remote: str) -> RemoteStatus:
    ready(store)
    row = store.conn.execute("SELECT remote, last_ok, failing_since, error FROM remote_status "
                             "WHERE remote = ?", (remote,)).fetchone()
    return RemoteStatus(*row) if row else RemoteStatus(remote, None, None, None)


def mark_ok(store: Store, remote: str, now: float) -> RemoteStatus:
    """Record a successful exchange; returns the status before it (to tell a reconnect)."""
    before = status(store, remote)
    with store.immediate() as conn:
        conn.execute("INSERT INTO remote_status(remote, last_ok, failing_since, error) "
                     "VALUES (?,?,NULL,NULL) ON CONFLICT(remote) DO UPDATE SET "
                     "last_ok = excluded.last_ok, failing_since = NULL, error = NULL",
                     (remote, now))
    return before


def mark_failing(store: Store, remote: str, now: float, error: str) -> RemoteStatus:
    """Record a failed exchange; returns the status before it (to tell a disconnect)."""
    before = status(store, remote)
    with store.immediate() as conn:
        conn.execute("INSERT INTO remote_status(remote, last_ok, failing_since, error) "
                     "VALUES (?,NULL,?,?) ON CONFLICT(remote) DO UPDATE SET "
                     "failing_since = COALESCE(remote_status.failing_since, excluded."
                     "failing_since), error = excluded.error", (remote, now, error))
    return before
