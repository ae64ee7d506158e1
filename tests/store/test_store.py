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
