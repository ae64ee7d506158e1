"""Health state: every check run, the verdict per agent and check, and automatic reverts."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitwarden.health.schema import MIGRATIONS
from gitwarden.store.db import Store, placeholders, prune_rows


def ready(store: Store) -> Store:
    store.ensure_schema("health", MIGRATIONS)
    return store


@dataclass(frozen=True)
class Verdict:
    id: int
    ts: float
    agent: str
    check: str
    trigger: str
    commit: str
    verdict: str
    culprit: str | None
    candidates: tuple[str, ...]
    runs: int
    log_path: str | None
    action: str | None
    detail: str
    agents: tuple[str, ...] = ()  # integration verdicts: the agents merged in
    cached: bool = False  # reached from results reused for the same tree, no run
    left_out: Mapping[str, str] = field(default_factory=dict)  # integration: agent -> why

    def as_json(self) -> dict[str, Any]:
        found = {"agent": self.agent, "check": self.check, "time": self.ts,
                 "trigger": self.trigger, "commit": self.commit, "verdict": self.verdict,
                 "culprit": self.culprit, "candidates": list(self.candidates),
                 "runs": self.runs, "log": self.log_path, "action": self.action,
                 "detail": self.detail, "cached": self.cached}
        if self.agents or self.left_out:
            found["agents"] = list(self.agents)
            found["left_out"] = dict(self.left_out)
        return found


def record_run(store: Store, *, agent: str | None, trigger: str, check: str, commit: str,
               tree: str | None, outcome: str, exit_code: int | None, timed_out: bool,
               duration: float, log_path: str | None, config_hash: str | None = None) -> int:
    ready(store)
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT INTO health_runs(ts, agent, trigger, check_name, commit_id, tree_id, outcome,"
            " exit_code, timed_out, duration, log_path, config_hash)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (time.time(), agent, trigger, check, commit, tree, outcome, exit_code,
             int(timed_out), duration, log_path, config_hash))
        return int(cursor.lastrowid or 0)


@dataclass(frozen=True)
class PastRun:
    """A recorded run whose result stands for any commit with the same tree and config."""

    id: int
    ts: float
    agent: str | None
    commit: str
    outcome: str
    exit_code: int | None
    log_path: str | None

    def as_json(self) -> dict[str, Any]:
        return {"run": self.id, "time": self.ts, "agent": self.agent, "commit": self.commit,
                "outcome": self.outcome, "log": self.log_path}


def past_runs(store: Store, check: str, tree: str, config_hash: str,
              limit: int = 8) -> list[PastRun]:
    """Decided runs (pass, fail, skip) of `check` with this config on this tree, newest first."""
    ready(store)
    rows = store.conn.execute(
        "SELECT id, ts, agent, commit_id, outcome, exit_code, log_path FROM health_runs"
        " WHERE check_name = ? AND tree_id = ? AND config_hash = ?"
        " AND outcome IN ('pass', 'fail', 'skip') ORDER BY id DESC LIMIT ?",
        (check, tree, config_hash, limit)).fetchall()
    return [PastRun(*row) for row in rows]


def record_verdict(store: Store, *, agent: str, check: str, trigger: str, commit: str,
                   verdict: str, culprit: str | None = None, candidates: tuple[str, ...] = (),
                   runs: int = 0, log_path: str | None = None, action: str | None = None,
                   detail: str = "", agents: tuple[str, ...] = (), cached: bool = False,
                   left_out: Mapping[str, str] | None = None) -> int:
    ready(store)
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT INTO health_verdicts(ts, agent, check_name, trigger, commit_id, verdict,"
            " culprit, candidates, runs, log_path, action, detail, agents, cached, left_out)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (time.time(), agent, check, trigger, commit, verdict, culprit, " ".join(candidates),
             runs, log_path, action, detail, " ".join(agents), int(cached),
             json.dumps(dict(left_out or {}), sort_keys=True)))
        return int(cursor.lastrowid or 0)


def set_action(store: Store, verdict_id: int, action: str) -> None:
    ready(store)
    with store.immediate() as conn:
        conn.execute("UPDATE health_verdicts SET action = ? WHERE id = ?", (action, verdict_id))


_VERDICT_COLUMNS = ("id, ts, agent, check_name, trigger, commit_id, verdict, culprit, "
                    "candidates, runs, log_path, action, detail, agents, cached, left_out")


def _verdict(row: tuple[Any, ...]) -> Verdict:
    return Verdict(id=row[0], ts=row[1], agent=row[2], check=row[3], trigger=row[4],
                   commit=row[5], verdict=row[6], culprit=row[7],
                   candidates=tuple(row[8].split()) if row[8] else (), runs=row[9],
                   log_path=row[10], action=row[11], detail=row[12],
                   agents=tuple(row[13].split()) if row[13] else (), cached=bool(row[14]),
                   left_out=json.loads(row[15] or "{}"))


def latest_verdicts(store: Store, agent: str | None = None) -> list[Verdict]:
    """The newest verdict per (agent, check), ordered by agent then check (superseded ones
    left out: they say nothing about any commit)."""
    ready(store)
    where, params = ("WHERE agent = ?", (agent,)) if agent is not None else ("", ())
    where = f"{where} AND" if where else "WHERE"
    rows = store.conn.execute(
        f"SELECT {_VERDICT_COLUMNS} FROM health_verdicts WHERE id IN ("
        f" SELECT MAX(id) FROM health_verdicts {where} verdict != 'superseded'"
        " GROUP BY agent, check_name) ORDER BY agent, check_name", params).fetchall()
    return [_verdict(row) for row in rows]


def verdicts_at(store: Store, agent: str, commit: str) -> list[Verdict]:
    """The newest verdict per check for `agent` at exactly `commit` (superseded ones left
    out: they say nothing about the commit)."""
    ready(store)
    rows = store.conn.execute(
        f"SELECT {_VERDICT_COLUMNS} FROM health_verdicts WHERE id IN ("
        " SELECT MAX(id) FROM health_verdicts WHERE agent = ? AND commit_id = ?"
        " AND verdict != 'superseded' GROUP BY check_name) ORDER BY check_name",
        (agent, commit)).fetchall()
    return [_verdict(row) for row in rows]


def verdict_history(store: Store, agent: str | None = None, limit: int = 50) -> list[Verdict]:
    ready(store)
    where, params = ("WHERE agent = ?", (agent,)) if agent is not None else ("", ())
    rows = store.conn.execute(
        f"SELECT {_VERDICT_COLUMNS} FROM health_verdicts {where} ORDER BY id DESC LIMIT ?",
        (*params, limit)).fetchall()
    return [_verdict(row) for row in rows]


def checks_with_verdict(store: Store, agent: str, commit: str) -> set[str]:
    """The checks that have a verdict (superseded ones aside) for `agent` at `commit`."""
    ready(store)
    rows = store.conn.execute(
        "SELECT DISTINCT check_name FROM health_verdicts WHERE agent = ? AND commit_id = ?"
        " AND verdict != 'superseded'", (agent, commit)).fetchall()
    return {row[0] for row in rows}


# --- which commit each agent is being checked at ---------------------------------------------

@dataclass(frozen=True)
class Progress:
    agent: str
    commit: str
    state: str  # pending (queued by the daemon) | running
    pid: int
    ts: float

    @property
    def alive(self) -> bool:
        """Whether the process that queued or runs the check still exists."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def set_progress(store: Store, agent: str, commit: str, state: str) -> None:
    ready(store)
    with store.immediate() as conn:
        conn.execute("INSERT OR REPLACE INTO health_progress(agent, commit_id, state, pid, ts)"
                     " VALUES (?,?,?,?,?)", (agent, commit, state, os.getpid(), time.time()))


def clear_progress(store: Store, agent: str, commit: str) -> None:
    """Forget the progress of `agent` at `commit` (a newer commit's entry is kept)."""
    ready(store)
    with store.immediate() as conn:
        conn.execute("DELETE FROM health_progress WHERE agent = ? AND commit_id = ?",
                     (agent, commit))


def progress(store: Store, agent: str) -> Progress | None:
    ready(store)
    row = store.conn.execute("SELECT agent, commit_id, state, pid, ts FROM health_progress"
                             " WHERE agent = ?", (agent,)).fetchone()
    return Progress(*row) if row is not None else None


def count_runs(store: Store, agent: str | None = None, trigger: str | None = None) -> int:
    ready(store)
    clauses = [(name, value) for name, value in (("agent", agent), ("trigger", trigger))
               if value is not None]
    where = " AND ".join(f"{name} = ?" for name, _ in clauses) or "1"
    row = store.conn.execute(f"SELECT COUNT(*) FROM health_runs WHERE {where}",
                             tuple(value for _, value in clauses)).fetchone()
    return int(row[0])


def flaky_on_record(store: Store, check: str, since: float = 0.0) -> bool:
    """Whether `check` passed and failed on the same tree since `since` (known flaky)."""
    ready(store)
    row = store.conn.execute(
        "SELECT 1 FROM health_runs WHERE check_name = ? AND tree_id IS NOT NULL AND ts >= ?"
        " AND outcome IN ('pass', 'fail') GROUP BY tree_id"
        " HAVING COUNT(DISTINCT outcome) > 1 LIMIT 1", (check, since)).fetchone()
    return row is not None


def record_revert(store: Store, *, agent: str, culprit: str, revert_commit: str,
                  previous_head: str, backup_ref: str | None,
                  safety_checkpoint: str | None, status: str = "done") -> int:
    ready(store)
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT INTO health_reverts(ts, agent, culprit, revert_commit, previous_head,"
            " backup_ref, safety_checkpoint, status) VALUES (?,?,?,?,?,?,?,?)",
            (time.time(), agent, culprit, revert_commit, previous_head, backup_ref,
             safety_checkpoint, status))
        return int(cursor.lastrowid or 0)


def set_revert_status(store: Store, revert_id: int, status: str) -> None:
    ready(store)
    with store.immediate() as conn:
        conn.execute("UPDATE health_reverts SET status = ? WHERE id = ?", (status, revert_id))


def reverts_since(store: Store, agent: str, since: float) -> int:
    """Automatic reverts of the agent since `since` (aborted attempts do not count)."""
    ready(store)
    row = store.conn.execute("SELECT COUNT(*) FROM health_reverts WHERE agent = ? AND ts >= ?"
                             " AND status != 'aborted'", (agent, since)).fetchone()
    return int(row[0])


def was_reverted(store: Store, agent: str, culprit: str) -> bool:
    """Whether `culprit` was ever automatically reverted (or a revert started) for `agent`."""
    ready(store)
    row = store.conn.execute(
        "SELECT 1 FROM health_reverts WHERE agent = ? AND culprit = ? AND status != 'aborted'"
        " LIMIT 1", (agent, culprit)).fetchone()
    return row is not None


def reverts(store: Store, agent: str | None = None) -> list[dict[str, Any]]:
    ready(store)
    where, params = ("WHERE agent = ?", (agent,)) if agent is not None else ("", ())
    rows = store.conn.execute(
        "SELECT ts, agent, culprit, revert_commit, previous_head, backup_ref, safety_checkpoint,"
        f" status FROM health_reverts {where} ORDER BY id", params).fetchall()
    keys = ("time", "agent", "culprit", "revert_commit", "previous_head", "backup_ref",
            "safety_checkpoint", "status")
    return [dict(zip(keys, row, strict=True)) for row in rows]


# --- one automatic action per (agent, culprit) -----------------------------------------------

@dataclass(frozen=True)
class ActedOn:
    agent: str
    culprit: str
    action: str
    ts: float
    repeats: int
    notice: str | None


def claim_action(store: Store, agent: str, culprit: str, action: str) -> bool:
    """Claim the one automatic action on (agent, culprit): False if it was already taken."""
    ready(store)
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO health_actions(agent, culprit, action, ts) VALUES (?,?,?,?)",
            (agent, culprit, action, time.time()))
        return cursor.rowcount == 1


def set_acted(store: Store, agent: str, culprit: str, action: str) -> None:
    ready(store)
    with store.immediate() as conn:
        conn.execute("UPDATE health_actions SET action = ? WHERE agent = ? AND culprit = ?",
                     (action, agent, culprit))


def acted_on(store: Store, agent: str, culprit: str) -> ActedOn | None:
    ready(store)
    row = store.conn.execute(
        "SELECT agent, culprit, action, ts, repeats, notice FROM health_actions"
        " WHERE agent = ? AND culprit = ?", (agent, culprit)).fetchone()
    if row is None:
        return None
    return ActedOn(agent=row[0], culprit=row[1], action=row[2], ts=row[3], repeats=row[4],
                   notice=row[5])


def note_repeat(store: Store, agent: str, culprit: str, notice: str) -> bool:
    """Count one more sighting of an already handled culprit; True if `notice` is new for it
    (the user has not been told this yet)."""
    ready(store)
    with store.immediate() as conn:
        row = conn.execute("SELECT notice FROM health_actions WHERE agent = ? AND culprit = ?",
                           (agent, culprit)).fetchone()
        conn.execute("UPDATE health_actions SET repeats = repeats + 1, notice = ?"
                     " WHERE agent = ? AND culprit = ?", (notice, agent, culprit))
        return row is None or row[0] != notice


# --- retention --------------------------------------------------------------------------------

def prune_health(store: Store, *, older_than: float, max_rows: int,
                 keep_commits: Collection[str], reverts_before: float,
                 dry_run: bool = False) -> dict[str, int]:
    """Drop health history no decision needs any more; returns rows removed per table.

    Runs and verdicts older than `older_than` (or beyond `max_rows`) go, except the newest of
    each (agent, check, result) (what status and the next decision read) and the newest of
    each (commit, check, result) for `keep_commits` (commits a clean mark or a live decision
    names: a commit checked again and again keeps one of each). Reverts and automatic
    actions go only before `reverts_before` (they cap reverts per day and stop a culprit from
    being acted on twice); a revert still in progress always stays.
    """
    ready(store)
    kept = sorted(set(keep_commits))
    removed = {}
    for table in ("health_runs", "health_verdicts"):
        result = "outcome" if table == "health_runs" else "verdict"
        # the newest of each result (not just the newest row): a newer superseded or
        # skipped one must not take the last pass or fail of a check with it
        keep = (f"rowid IN (SELECT MAX(id) FROM {table} GROUP BY agent, check_name, {result})"
                f" OR rowid IN (SELECT MAX(id) FROM {table} WHERE commit_id IN "
                f"({placeholders(kept)}) GROUP BY commit_id, check_name, {result})")
        removed[table] = prune_rows(store, table, time_column="ts", older_than=older_than,
                                    max_rows=max_rows, keep=keep, params=kept, dry_run=dry_run)
    removed["health_reverts"] = prune_rows(store, "health_reverts", time_column="ts",
                                           older_than=reverts_before, max_rows=None,
                                           keep="status = 'started'", dry_run=dry_run)
    removed["health_actions"] = prune_rows(store, "health_actions", time_column="ts",
                                           older_than=reverts_before, max_rows=None,
                                           dry_run=dry_run)
    return removed


def log_paths_in_use(store: Store) -> set[str]:
    """The health logs that recorded runs and verdicts still point at."""
    ready(store)
    rows = store.conn.execute("SELECT log_path FROM health_runs WHERE log_path IS NOT NULL "
                              "UNION SELECT log_path FROM health_verdicts "
                              "WHERE log_path IS NOT NULL").fetchall()
    return {str(row[0]) for row in rows}
