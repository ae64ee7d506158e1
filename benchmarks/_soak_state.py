"""What the soak benchmark reads of the daemon from outside: state.db (sizes, rows, pages per
table, the size right after the newest retention pass) and the daemon's memory split."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def state_figures(state_db: Path) -> tuple[float, float, dict[str, int]]:
    wal = state_db.with_name("state.db-wal")
    size, wal_size = state_db.stat().st_size, wal.stat().st_size if wal.exists() else 0
    rows: dict[str, int] = {}
    conn = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=30)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        for name in sorted(names):
            if name != "schema_versions":
                rows[name] = int(conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0])
    finally:
        conn.close()
    return size / 1024, wal_size / 1024, rows


def size_after_retention(state_db: Path) -> float:
    """KB of state.db and its WAL right after the newest retention pass (what its
    `state.pruned` event recorded; 0 before the first): the same moment of every pass, after
    the prune, the incremental vacuum and the WAL checkpoint. Between passes the file also
    holds the rows the next pass will remove, pages freed since, and a WAL of up to a few MB,
    so sizes sampled at other moments measure where the sample fell in that cycle."""
    conn = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT data FROM events WHERE kind = 'state.pruned' "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return 0.0
    finally:
        conn.close()
    return float(json.loads(row[0])["size_after"]["bytes"]) / 1024 if row else 0.0


def table_sizes(state_db: Path) -> dict[str, float]:
    """KB of pages per table or index (SQLite's dbstat), and the free pages."""
    conn = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=30)
    try:
        sizes = {str(name): size / 1024 for name, size in conn.execute(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")}
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        sizes["(free)"] = int(conn.execute("PRAGMA freelist_count").fetchone()[0]) * page / 1024
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return sizes


def memory_split(pid: int) -> tuple[float, float, float]:
    """MB of the daemon's resident memory, and of it what is anonymous (heap) and
    file-mapped (the interpreter, libraries, and pack files libgit2 maps), read at one moment
    from /proc/PID/smaps_rollup (exact page counts, where /proc/PID/statm, psutil's RSS, sums
    per-thread counters that may lag)."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0]) if rest.split() else 0
    except (OSError, ValueError):
        return 0.0, 0.0, 0.0
    rss, anon = fields.get("Rss", 0), fields.get("Anonymous", 0)
    return rss / 1024, anon / 1024, (rss - anon) / 1024
