"""The SQLite connection: WAL, owner-only, and versioned schemas per component.

Every state module (events, checkpoints, locks, ...) owns its tables and declares its own
ordered list of migrations; `ensure_schema` applies the missing ones inside one
`BEGIN IMMEDIATE` transaction so that several processes opening the store at once agree.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitwarden.errors import GitwardenError
from gitwarden.git.repository import Repo

DB_NAME = "state.db"
BUSY_TIMEOUT_MS = 10_000
WAL_SIZE_LIMIT = 1024 * 1024
CHECKPOINT_WAIT_MS = 200
# Page cache of one connection, in KiB (SQLite's default: 2,000). The daemon keeps a
# connection per thread (ten or so), and each cache grows to its cap as pages churn: up to
# 20 MB of heap, reached slowly over a run. A write by any other connection empties a cache
# anyway, and the pages stay in the OS's file cache: a small cache costs nothing measurable.
CACHE_KIB = 256

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
)
"""


def _storable_text(text: str) -> str:
    """File names that are not UTF-8 arrive surrogate-escaped, which SQLite text cannot hold:
    store their bytes as \\xNN (consistently, so lookups by the same name still match)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


sqlite3.register_adapter(str, _storable_text)


# Connections to a state database that was removed or replaced under them. Closing one would
# make SQLite delete `state.db-wal` and `-shm` by name, which may by now belong to the new
# database: they stay open (one per replacement) until the process ends.
_ABANDONED: list[sqlite3.Connection] = []


class Store:
    """One connection to the state database; use one per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ensured: set[str] = set()
        self.conn = _connect(path)
        self._identity = _identity(path)

    def reopen_if_replaced(self) -> str | None:
        """Reconnect when the database file was removed or replaced since this connection
        opened it (a user deleting or restoring state.db while the daemon runs); returns what
        happened, None when the file is the one this connection writes to."""
        current = _identity(self.path)
        if current is not None and current == self._identity:
            return None
        what = "removed" if current is None else "replaced"
        if current is not None:
            # The -wal and -shm still hold the old database's pages, which a connection to the
            # new file would read as its own: move them into the old file, empty the log.
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            # A new database must never start from the old one's write-ahead log.
            for suffix in ("-wal", "-shm"):
                stale = self.path.with_name(self.path.name + suffix)
                with contextlib.suppress(FileNotFoundError):
                    stale.rename(stale.with_name(f"{stale.name}.orphaned-{int(time.time())}"))
        _ABANDONED.append(self.conn)
        self.conn = _connect(self.path)
        self._identity = _identity(self.path)
        self._ensured.clear()
        return f"state database {self.path} was {what} while in use; reopened it"

    @classmethod
    def open(cls, repo: Repo) -> Store:
        state_dir = repo.ensure_state_dir()
        return cls(state_dir / DB_NAME)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ensure_schema(self, component: str, migrations: Sequence[str]) -> None:
        """Apply the migrations of `component` this database has not seen yet."""
        if component in self._ensured:
            return
        current = self._version(component)
        if current < len(migrations):
            with self.immediate():
                current = self._version(component)
                for sql in migrations[current:]:
                    _run_script(self.conn, sql)
                self.conn.execute(
                    "INSERT INTO schema_versions(component, version) VALUES(?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, len(migrations)),
                )
        elif current > len(migrations):
            raise GitwardenError(
                f"state database {self.path} was written by a newer gitwarden "
                f"({component} schema v{current}); upgrade gitwarden"
            )
        self._ensured.add(component)

    def immediate(self) -> _Immediate:
        """A write transaction that takes the database write lock up front."""
        return _Immediate(self.conn)

    def _version(self, component: str) -> int:
        row = self.conn.execute(
            "SELECT version FROM schema_versions WHERE component = ?", (component,)
        ).fetchone()
        return int(row[0]) if row else 0


class _Immediate:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        _retry_locked(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def prune_rows(store: Store, table: str, *, time_column: str, older_than: float,
               max_rows: int | None, keep: str = "0", params: Sequence[Any] = (),
               dry_run: bool = False) -> int:
    """Delete the rows of `table` older than `older_than`, then the oldest until at most
    `max_rows` remain; a row matching `keep` (an SQL condition over `params`) is never deleted.
    Returns how many rows went (or would go, with `dry_run`). `table`, `time_column` and `keep`
    are the calling module's own SQL, never user input."""
    prunable = f"NOT ({keep})"
    with store.immediate() as conn:
        aged = _count(conn, f"SELECT COUNT(*) FROM {table} WHERE {time_column} < ? AND "
                            f"{prunable}", (older_than, *params))
        total = _count(conn, f"SELECT COUNT(*) FROM {table}", ())
        excess = max(0, total - aged - max_rows) if max_rows is not None else 0
        if dry_run:
            rest = _count(conn, f"SELECT COUNT(*) FROM {table} WHERE NOT ({time_column} < ?) "
                                f"AND {prunable}", (older_than, *params))
            return aged + min(excess, rest)
        removed = conn.execute(f"DELETE FROM {table} WHERE {time_column} < ? AND {prunable}",
                               (older_than, *params)).rowcount
        if excess:
            removed += conn.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                f"WHERE {prunable} ORDER BY rowid LIMIT ?)", (*params, excess)).rowcount
    return int(removed)


def _count(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    return int(conn.execute(sql, tuple(params)).fetchone()[0])


def placeholders(values: Iterable[object]) -> str:
    """`?,?,?` for an IN list (`NULL` for none, which matches nothing)."""
    count = sum(1 for _ in values)
    return ",".join("?" * count) if count else "NULL"


@dataclass(frozen=True)
class StateSize:
    """Bytes of the state database on disk: the main file, its write-ahead log, free pages."""

    database: int
    wal: int
    free: int

    @property
    def total(self) -> int:
        return self.database + self.wal

    def as_json(self) -> dict[str, int]:
        return {"bytes": self.total, "database": self.database, "wal": self.wal,
                "free": self.free}


def state_size(store: Store) -> StateSize:
    def size_of(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    page_size = int(store.conn.execute("PRAGMA page_size").fetchone()[0])
    free_pages = int(store.conn.execute("PRAGMA freelist_count").fetchone()[0])
    return StateSize(database=size_of(store.path),
                     wal=size_of(store.path.with_name(store.path.name + "-wal")),
                     free=free_pages * page_size)


def row_counts(store: Store) -> dict[str, int]:
    """Rows per table of the state database (every component's, by name only)."""
    names = [str(row[0]) for row in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    return {name: _count(store.conn, f'SELECT COUNT(*) FROM "{name}"', ()) for name in names}


AUTO_VACUUM_INCREMENTAL = 2


def compact(store: Store) -> None:
    """Give free pages back to the file system so that the file shrinks after a prune.

    Databases made before incremental vacuum existed are converted once (a full VACUUM,
    which rewrites the file); afterwards `incremental_vacuum` frees pages cheaply, and a
    TRUNCATE checkpoint empties the write-ahead log. Busy readers only postpone both."""
    mode = int(store.conn.execute("PRAGMA auto_vacuum").fetchone()[0])
    try:
        if mode != AUTO_VACUUM_INCREMENTAL:
            store.conn.execute(f"PRAGMA auto_vacuum = {AUTO_VACUUM_INCREMENTAL}")
            _retry_locked(lambda: store.conn.execute("VACUUM"))
        else:
            # execute() steps a pragma once (one page); a script runs it to the end.
            store.conn.executescript("PRAGMA incremental_vacuum;")
        # Empty the log now if nobody is reading; never wait long for other processes (they
        # are agents' hooks): when busy, journal_size_limit trims the log at its next reset.
        store.conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        try:
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            store.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise


def _run_script(conn: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT our transaction first; run statement by statement instead.
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _connect(path: Path) -> sqlite3.Connection:
    new = not path.exists()
    if new:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
    _repair_read_only(path)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        if new:  # takes effect only before the first table exists; older files: compact()
            conn.execute(f"PRAGMA auto_vacuum = {AUTO_VACUUM_INCREMENTAL}")
        _retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        # the write-ahead log is cut back to this after each checkpoint instead of staying
        # at its largest size for ever
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA foreign_keys = ON")
        _retry_locked(lambda: conn.execute(_BOOTSTRAP))
    except sqlite3.DatabaseError as exc:
        raise GitwardenError(f"cannot open state database {path}: {exc}"
                             f"{_read_only_hint(path)}") from exc
    _owner_only(path)
    return conn


def _companions(path: Path) -> tuple[Path, ...]:
    return (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


def read_only_files(path: Path) -> list[tuple[Path, bool]]:
    """The database's files (main, -wal, -shm) that a write would fail on, each with whether
    it is ours to repair (owned by this user: only its write bit is missing)."""
    found = []
    for candidate in _companions(path):
        try:
            st = candidate.stat()
        except OSError:
            continue
        ours = st.st_uid == os.getuid()
        if not st.st_mode & 0o200 or not os.access(candidate, os.W_OK):
            found.append((candidate, ours))
    return found


def _repair_read_only(path: Path) -> None:
    """A -shm or -wal made while the database was read-only stays read-only and makes every
    later write fail: give our own files their owner's write bit back."""
    for candidate, ours in read_only_files(path):
        if ours:
            with contextlib.suppress(OSError):
                os.chmod(candidate, 0o600)


def _read_only_hint(path: Path) -> str:
    """Names the files this process cannot write, with the fix."""
    stuck = [str(c) for c in _companions(path) if c.exists() and not os.access(c, os.W_OK)]
    if not stuck:
        return ""
    return (f" ({', '.join(stuck)} cannot be written by this user: stop every gitwarden "
            f"process, then fix the owner or remove the -wal/-shm files; "
            f"`gitwarden doctor --fix` does it)")


def _owner_only(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if candidate.stat().st_mode & 0o077:
                os.chmod(candidate, 0o600)
        except FileNotFoundError:
            continue
        except PermissionError:
            continue


def _retry_locked(action: object) -> None:
    assert callable(action)
    delay = 0.01
    for _ in range(50):
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    action()
