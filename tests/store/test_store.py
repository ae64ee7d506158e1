"""The SQLite state store: owner-only, WAL, migrations, several processes at once."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events, record_event
from tests.helpers.gitrepo import make_repo


def test_store_is_owner_only_and_wal(tmp_path: Path) -> None:
    repo = locate_repo(make_repo(tmp_path))
    with Store.open(repo) as store:
        record_event(store, "test", "hello", agent="a")
        mode = store.conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert stat.S_IMODE(repo.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((repo.state_dir / "state.db").stat().st_mode) == 0o600


def test_migrations_apply_once_and_in_order(tmp_path: Path) -> None:
    repo = locate_repo(make_repo(tmp_path))
    migrations = ["CREATE TABLE t (a INTEGER)", "ALTER TABLE t ADD COLUMN b TEXT"]
    with Store.open(repo) as store:
        store.ensure_schema("demo", migrations[:1])
    with Store.open(repo) as store:
        store.ensure_schema("demo", migrations)
        columns = [row[1] for row in store.conn.execute("PRAGMA table_info(t)")]
    assert columns == ["a", "b"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    from gitwarden.errors import GitwardenError

    repo = locate_repo(make_repo(tmp_path))
    with Store.open(repo) as store:
        store.ensure_schema("demo", ["CREATE TABLE t (a)", "CREATE TABLE u (a)"])
    with Store.open(repo) as store:
        try:
            store.ensure_schema("demo", ["CREATE TABLE t (a)"])
        except GitwardenError as exc:
            assert "newer gitwarden" in exc.message
        else:
            raise AssertionError("expected an error")


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    script = (
        "import sys\n"
        "from gitwarden.git.repository import locate_repo\n"
        "from gitwarden.store.db import Store\n"
        "from gitwarden.store.events import record_event\n"
        "store = Store.open(locate_repo(sys.argv[1]))\n"
        "for i in range(50):\n"
        "    record_event(store, 'race', f'{sys.argv[2]}-{i}')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(main), str(n)])
             for n in range(6)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    with Store.open(locate_repo(main)) as store:
        events = list_events(store, kinds=["race"], limit=10_000)
    assert len(events) == 300
    assert len({e.message for e in events}) == 300


def test_names_that_are_not_utf8_are_stored_escaped(tmp_path: Path) -> None:
    repo = locate_repo(make_repo(tmp_path))
    name = b"bad\xffname.txt".decode("utf-8", "surrogateescape")
    with Store.open(repo) as store:
        record_event(store, "test", f"touched {name}", path=name)
        event = list_events(store, kinds=["test"])[0]
        by_path = store.conn.execute("SELECT count(*) FROM events WHERE path = ?",
                                     (name,)).fetchone()[0]
    assert event.path == "bad\\xffname.txt"
    assert by_path == 1


def test_a_new_store_vacuums_incrementally_and_an_old_one_is_converted(tmp_path: Path) -> None:
    from gitwarden.store.db import compact, state_size
    from gitwarden.store.events import EventKind, prune_events

    with Store(tmp_path / "new.db") as store:
        assert store.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    old = tmp_path / "old.db"
    import sqlite3

    legacy = sqlite3.connect(old)
    legacy.execute("CREATE TABLE legacy (x TEXT)")
    legacy.executemany("INSERT INTO legacy VALUES (?)", [("x" * 500,)] * 2000)
    legacy.commit()
    legacy.close()
    with Store(old) as store:
        assert store.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
        for n in range(2000):
            record_event(store, EventKind.CHECKPOINT_CREATED, f"{n} " + "y" * 300)
        store.conn.execute("DELETE FROM legacy")
        assert prune_events(store, older_than=0.0, max_rows=1) == 1999
        before = state_size(store)
        compact(store)  # converts once (a full VACUUM) ...
        assert store.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        after = state_size(store)
        assert after.total < before.total / 4
        for n in range(2000):
            record_event(store, EventKind.CHECKPOINT_CREATED, f"{n} " + "y" * 300)
        grown = state_size(store).total
        prune_events(store, older_than=0.0, max_rows=1)
        compact(store)  # ... and then frees pages incrementally
        assert state_size(store).total < grown / 4
        assert [e.message[:4] for e in list_events(store)] == ["1999"]
