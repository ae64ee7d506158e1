"""Locks in the state store: granted atomically under `BEGIN IMMEDIATE`, so among any number
of competing processes exactly one wins; stale locks are taken away and their holder told."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from gitwarden.coordination import pauses
from gitwarden.coordination.lock_rules import (
    LOCK_COLUMNS,
    PATH,
    RESOURCE,
    Lock,
    StaleRules,
    conflicts,
    stale_reason,
)
from gitwarden.coordination.processes import is_alive
from gitwarden.errors import GitwardenError
from gitwarden.store import events
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind

MIGRATIONS = [
    """
    CREATE TABLE locks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        pattern TEXT NOT NULL,
        agent TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        acquired_at REAL NOT NULL,
        renewed_at REAL NOT NULL,
        expires_at REAL,
        pid INTEGER,
        pid_start INTEGER,
        UNIQUE(kind, pattern, agent)
    )
    """,
]

_COLUMNS = LOCK_COLUMNS


@dataclass(frozen=True)
class Released:
    lock: Lock
    why: str


@dataclass
class LockResult:
    granted: bool
    locks: list[Lock] = field(default_factory=list)
    conflicts: list[tuple[str, Lock]] = field(default_factory=list)
    released_stale: list[Released] = field(default_factory=list)


class LockHeldByOther(GitwardenError):
    """Unlocking a lock another agent holds, without --force."""


def ready(store: Store) -> Store:
    store.ensure_schema("locks", MIGRATIONS)
    return store


def list_locks(store: Store, *, kind: str | None = None, agent: str | None = None,
               include_expired: bool = True) -> list[Lock]:
    ready(store)
    return _select(store, kind=kind, agent=agent, include_expired=include_expired)


def _select(store: Store, *, kind: str | None = None, agent: str | None = None,
            include_expired: bool = True) -> list[Lock]:
    clauses, params = ["1"], []
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if agent is not None:
        clauses.append("agent = ?")
        params.append(agent)
    rows = store.conn.execute(f"SELECT {_COLUMNS} FROM locks WHERE {' AND '.join(clauses)} "
                              "ORDER BY id", params).fetchall()
    now = time.time()
    found = [Lock(*row) for row in rows]
    return found if include_expired else [lock for lock in found if not lock.expired(now)]


def acquire(store: Store, agent: str, patterns: Sequence[str], *, ttl: float | None,
            reason: str = "", kind: str = PATH, stale_after: float = 7200.0,
            known_agents: Collection[str] | None = None, pid: int | None = None,
            pid_start: int | None = None, notify_stale: bool = True) -> LockResult:
    """Grant all of `patterns` to `agent` or none of them. Locks `agent` already holds are
    renewed. Stale locks found on the way are released and their holders told."""
    ready(store)
    pauses.ready(store)
    store.ensure_schema("events", events.MIGRATIONS)
    result = LockResult(granted=False)
    with store.immediate() as conn:
        now = time.time()
        result.released_stale = _release_stale(store, now, stale_after, known_agents)
        held = _select(store, kind=kind)
        already = {lock.pattern for lock in held if lock.agent == agent}
        result.conflicts = conflicts(held, agent, patterns, kind)
        if not result.conflicts:
            expires = now + ttl if ttl else None
            for pattern in dict.fromkeys(patterns):
                conn.execute(
                    "INSERT INTO locks(kind, pattern, agent, reason, acquired_at, renewed_at, "
                    "expires_at, pid, pid_start) VALUES (?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT(kind, pattern, agent) DO UPDATE SET renewed_at = "
                    "excluded.renewed_at, expires_at = excluded.expires_at, reason = CASE WHEN "
                    "excluded.reason = '' THEN locks.reason ELSE excluded.reason END, "
                    "pid = excluded.pid, pid_start = excluded.pid_start",
                    (kind, pattern, agent, reason, now, now, expires, pid, pid_start))
            wanted = set(patterns)
            result.locks = [lock for lock in _select(store, kind=kind, agent=agent)
                            if lock.pattern in wanted]
            result.granted = True
    for lock in result.locks:
        if lock.pattern not in already:
            events.record_event(store, EventKind.LOCK_ACQUIRED,
                                f"{agent} locked '{lock.pattern}'"
                                + (f": {lock.reason}" if lock.reason else ""),
                                agent=agent, path=lock.pattern, data={"lock": lock.as_json()})
    if notify_stale:
        tell_stale_holders(store, result.released_stale, taken_by=agent)
    return result


def acquire_waiting(store: Store, agent: str, patterns: Sequence[str], *, wait: float,
                    ttl: float | None, poll: float = 0.05, **kwargs: object) -> LockResult:
    """`acquire`, retried until granted or `wait` seconds have passed."""
    deadline = time.monotonic() + wait
    delay = min(poll, 0.01)
    while True:
        result = acquire(store, agent, patterns, ttl=ttl, **kwargs)  # type: ignore[arg-type]
        if result.granted or time.monotonic() >= deadline:
            return result
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, poll)


def renew(store: Store, agent: str, patterns: Iterable[str] | None, ttl: float | None,
          kind: str = PATH) -> list[Lock]:
    """Extend `agent`'s locks (all of them when `patterns` is None)."""
    ready(store)
    wanted = None if patterns is None else set(patterns)
    with store.immediate() as conn:
        now = time.time()
        mine = [lock for lock in _select(store, kind=kind, agent=agent)
                if wanted is None or lock.pattern in wanted]
        for lock in mine:
            conn.execute("UPDATE locks SET renewed_at = ?, expires_at = ? WHERE id = ?",
                         (now, now + ttl if ttl else None, lock.id))
        return [lock for lock in _select(store, kind=kind, agent=agent)
                if any(lock.id == m.id for m in mine)]


def release(store: Store, agent: str | None, patterns: Iterable[str], *, force: bool = False,
            kind: str = PATH) -> list[Lock]:
    """Release locks on exactly these patterns. Another agent's lock needs `force`; without it
    nothing is released and LockHeldByOther says who holds what."""
    ready(store)
    wanted = list(dict.fromkeys(patterns))
    with store.immediate() as conn:
        held = [lock for lock in _select(store, kind=kind) if lock.pattern in wanted]
        others = [lock for lock in held if lock.agent != agent]
        if others and not force:
            lock = others[0]
            raise LockHeldByOther(
                f"'{lock.pattern}' is locked by agent {lock.agent}, not by "
                f"{agent or 'you'}: ask {lock.agent} to unlock it, or use --force")
        for lock in held:
            conn.execute("DELETE FROM locks WHERE id = ?", (lock.id,))
    return held


def release_stale(store: Store, *, stale_after: float,
                  known_agents: Collection[str] | None = None) -> list[Released]:
    """Take away every stale lock and tell its holder; the daemon calls this periodically."""
    ready(store)
    pauses.ready(store)
    store.ensure_schema("events", events.MIGRATIONS)
    with store.immediate():
        released = _release_stale(store, time.time(), stale_after, known_agents)
    tell_stale_holders(store, released, taken_by=None)
    return released


def _release_stale(store: Store, now: float, stale_after: float,
                   known_agents: Collection[str] | None) -> list[Released]:
    """Inside a write transaction: delete stale locks and return them."""
    held = _select(store)
    if not held:
        return []
    paused = {row[0]: row[1] for row in store.conn.execute("SELECT agent, since FROM pauses")}
    holders = sorted({lock.agent for lock in held})
    activity = {row[0]: row[1] for row in store.conn.execute(
        f"SELECT agent, MAX(ts) FROM events WHERE agent IN ({','.join('?' * len(holders))}) "
        "AND kind NOT LIKE 'lock.%' GROUP BY agent", holders)}
    rules = StaleRules(stale_after=stale_after, paused_since=paused, known_agents=known_agents,
                       last_activity=activity, process_alive=is_alive)
    released: list[Released] = []
    for lock in held:
        why = stale_reason(lock, rules, now)
        if why is not None:
            store.conn.execute("DELETE FROM locks WHERE id = ?", (lock.id,))
            released.append(Released(lock=lock, why=why))
    return released


def tell_stale_holders(store: Store, released: Iterable[Released], *,
                       taken_by: str | None) -> None:
    for item in released:
        lock = item.lock
        # An expired lock is the normal end of a TTL: log it, but only notify when taken away
        # for another reason or because someone else needed it.
        loud = taken_by is not None or not lock.expired(time.time())
        what = "resource" if lock.kind == RESOURCE else "lock"
        message = f"released stale {what} '{lock.pattern}' of agent {lock.agent}: {item.why}"
        if taken_by is not None:
            message += f" (requested by {taken_by})"
        data: dict[str, object] = {"lock": lock.as_json(), "why": item.why}
        if loud:
            data.update(notify=True, title=f"gitwarden: {lock.agent} lost a lock",
                        body=message)
        events.record_event(store, EventKind.LOCK_STALE_RELEASED, message, agent=lock.agent,
                            path=lock.pattern if lock.kind == PATH else None,
                            severity="warning" if loud else "info", data=data)
