"""A state database removed or replaced under a long-lived connection is noticed and
reopened; read-only -shm/-wal files left from an earlier run are repaired or named."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import stat
from pathlib import Path

import pytest

from gitwarden.errors import GitwardenError
from gitwarden.store.db import CACHE_KIB, Store, _read_only_hint
from gitwarden.store.events import list_events, record_event


def test_a_removed_database_is_recreated_not_written_blind(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    record_event(store, "test.before", "before")
    assert store.reopen_if_replaced() is None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    reopened = store.reopen_if_replaced()
    assert reopened is not None and "was removed" in reopened
    record_event(store, "test.after", "after")
    with Store(path) as reader:  # what the CLI sees
        assert [e.kind for e in list_events(reader)] == ["test.after"]
    store.close()


def test_a_removed_database_never_reads_the_old_wal(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    record_event(store, "test.before", "before")
    path.unlink()  # only the main file: the old -wal and -shm stay behind
    assert store.reopen_if_replaced() is not None
    assert list_events(store) == []
    assert sorted(p.name.split(".orphaned")[0] for p in tmp_path.glob("*.orphaned-*")) == \
        ["state.db-shm", "state.db-wal"]


def test_a_replaced_database_is_the_one_read_afterwards(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store(tmp_path / "backup.db") as backup:
        record_event(backup, "test.backup", "from the backup")
        backup.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store = Store(path)
    record_event(store, "test.live", "live")
    shutil.copy(tmp_path / "backup.db", tmp_path / "restored.db")
    os.replace(tmp_path / "restored.db", path)
    reopened = store.reopen_if_replaced()
    assert reopened is not None and "was replaced" in reopened
    assert [e.kind for e in list_events(store)] == ["test.backup"]


def test_a_read_only_shm_left_from_an_earlier_run_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    leftover = Store(path)  # an earlier run: its -wal and -shm stay on disk
    record_event(leftover, "test.first", "first")
    for suffix in ("-wal", "-shm"):
        os.chmod(f"{path}{suffix}", 0o400)
    with Store(path) as store:
        record_event(store, "test.second", "second")
    leftover.close()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            assert stat.S_IMODE(Path(f"{path}{suffix}").stat().st_mode) == 0o600


@pytest.mark.skipif(os.getuid() == 0, reason="root writes read-only files: nothing to name")
def test_files_that_cannot_be_written_are_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    shm = Path(f"{path}-shm")
    shm.touch()
    os.chmod(shm, 0o400)
    os.chmod(tmp_path, 0o500)  # cannot repair: the directory is read-only too
    try:
        assert str(shm) in _read_only_hint(path)
        assert "doctor --fix" in _read_only_hint(path)
    finally:
        os.chmod(tmp_path, 0o700)


def test_an_unopenable_database_says_which_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(GitwardenError, match="cannot open state database"):
        Store(path).ensure_schema("x", ["CREATE TABLE x (a)"])


def _sqlite_library() -> ctypes.CDLL | None:
    """The SQLite library Python's sqlite3 module uses, when it is a shared library."""
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    library = ctypes.CDLL(name)
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return library


def test_each_connections_page_cache_is_bounded(tmp_path: Path) -> None:
    """The daemon holds a connection per thread; each one's page cache stays small however
    much of the database it reads (SQLite's default cache grows to 2 MB per connection)."""
    library = _sqlite_library()
    if library is None:
        pytest.skip("sqlite3 is not a shared library here: its memory cannot be read")
    with Store(tmp_path / "state.db") as writer:
        writer.conn.execute("CREATE TABLE filler(text TEXT)")
        with writer.immediate() as conn:
            conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 200,)] * 20_000)
    readers = [Store(tmp_path / "state.db") for _ in range(8)]
    try:
        before = library.sqlite3_memory_used()
        for reader in readers:
            assert int(reader.conn.execute("PRAGMA cache_size").fetchone()[0]) == -CACHE_KIB
            reader.conn.execute("SELECT COUNT(*), SUM(LENGTH(text)) FROM filler").fetchall()
        grown = library.sqlite3_memory_used() - before
    finally:
        for reader in readers:
            reader.close()
    # 8 caches of CACHE_KIB each (and their bookkeeping), not 8 x 2 MB of a 4 MB database
    assert 0 < grown <= 8 * 2 * CACHE_KIB * 1024
