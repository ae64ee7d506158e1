"""Paused agents, the kill switch, and the processes registered per agent.

An agent is paused while it has a row in `pauses`. The kill switch (`gitwarden stop`) pauses
every agent in one transaction and also sets the `kill_switch` row: automatic actions (reverts,
health-driven pauses) wait until `gitwarden resume --all` clears it; checkpoints go on.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from gitwarden.store.db import Store

MIGRATIONS = [
    """
    CREATE TABLE pauses (
        agent TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        paused_by TEXT NOT NULL,
        since REAL NOT NULL
    );
    CREATE TABLE kill_switch (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        reason TEXT NOT NULL,
        engaged_by TEXT NOT NULL,
        since REAL NOT NULL
    );
    CREATE TABLE agent_processes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        pid INTEGER NOT NULL,
        pgid INTEGER NOT NULL,
        start_time INTEGER,
        command TEXT NOT NULL,
        started_at REAL NOT NULL
    );
    CREATE INDEX agent_processes_agent ON agent_processes(agent)
    """,
]


@dataclass(frozen=True)
class PauseInfo:
    agent: str
    reason: str
    by: str
    since: float


@dataclass(frozen=True)
class KillSwitch:
    reason: str
    by: str
    since: float


@dataclass(frozen=True)
class AgentProcess:
    id: int
    agent: str
    pid: int
    pgid: int
    start_time: int | None
    command: str
    started_at: float


def ready(store: Store) -> Store:
    store.ensure_schema("pauses", MIGRATIONS)
    return store


def pause_agent(store: Store, agent: str, reason: str, by: str) -> None:
    """Pause `agent` (keeps the first reason if it is already paused)."""
    pause_agents(store, [agent], reason, by)


def pause_agents(store: Store, agents: list[str], reason: str, by: str) -> list[str]:
    """Pause several agents in one transaction; returns those that were not paused before."""
    ready(store)
    with store.immediate() as conn:
        return _insert_pauses(conn, agents, reason, by, time.time())


def _insert_pauses(conn: sqlite3.Connection, agents: list[str], reason: str, by: str,
                   now: float) -> list[str]:
    """Pause each agent not paused yet (inside the caller's transaction); returns those."""
    newly: list[str] = []
    for agent in agents:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO pauses(agent, reason, paused_by, since) VALUES (?,?,?,?)",
            (agent, reason, by, now))
        if cursor.rowcount:
            newly.append(agent)
    return newly


def resume_agent(store: Store, agent: str) -> bool:
    """Lift the pause of `agent`; returns whether it was paused."""
    ready(store)
    with store.immediate() as conn:
        return conn.execute("DELETE FROM pauses WHERE agent = ?", (agent,)).rowcount > 0


def resume_all(store: Store) -> list[str]:
    """Lift every pause and the kill switch; returns the agents that were paused."""
    ready(store)
    with store.immediate() as conn:
        names = [row[0] for row in conn.execute("SELECT agent FROM pauses ORDER BY agent")]
        conn.execute("DELETE FROM pauses")
        conn.execute("DELETE FROM kill_switch")
    return names


def paused_agents(store: Store) -> dict[str, PauseInfo]:
    ready(store)
    rows = store.conn.execute(
        "SELECT agent, reason, paused_by, since FROM pauses ORDER BY agent").fetchall()
    return {r[0]: PauseInfo(agent=r[0], reason=r[1], by=r[2], since=r[3]) for r in rows}


def pause_info(store: Store, agent: str) -> PauseInfo | None:
    ready(store)
    row = store.conn.execute("SELECT agent, reason, paused_by, since FROM pauses "
                             "WHERE agent = ?", (agent,)).fetchone()
    return PauseInfo(agent=row[0], reason=row[1], by=row[2], since=row[3]) if row else None


def is_paused(store: Store, agent: str) -> bool:
    return pause_info(store, agent) is not None


def engage_kill_switch(store: Store, agents: list[str], reason: str, by: str) -> list[str]:
    """Pause every agent and set the kill switch, atomically; returns the newly paused ones."""
    ready(store)
    now = time.time()
    with store.immediate() as conn:
        conn.execute("INSERT OR REPLACE INTO kill_switch(id, reason, engaged_by, since) "
                     "VALUES (1, ?, ?, ?)", (reason, by, now))
        return _insert_pauses(conn, agents, reason, by, now)


def kill_switch(store: Store) -> KillSwitch | None:
    """The kill switch when engaged: automatic actions must wait while it is."""
    ready(store)
    row = store.conn.execute("SELECT reason, engaged_by, since FROM kill_switch").fetchone()
    return KillSwitch(reason=row[0], by=row[1], since=row[2]) if row else None


def auto_actions_allowed(store: Store, agent: str | None = None) -> bool:
    """False while the kill switch is engaged, or while `agent` is paused."""
    if kill_switch(store) is not None:
        return False
    return agent is None or not is_paused(store, agent)


# --- registered processes (`gitwarden run --agent A -- CMD`) --------------------------------

def register_process(store: Store, agent: str, pid: int, pgid: int, start_time: int | None,
                     command: str) -> int:
    ready(store)
    with store.immediate() as conn:
        cursor = conn.execute(
            "INSERT INTO agent_processes(agent, pid, pgid, start_time, command, started_at) "
            "VALUES (?,?,?,?,?,?)", (agent, pid, pgid, start_time, command, time.time()))
        return int(cursor.lastrowid or 0)


def unregister_process(store: Store, process_id: int) -> None:
    ready(store)
    with store.immediate() as conn:
        conn.execute("DELETE FROM agent_processes WHERE id = ?", (process_id,))


def agent_processes(store: Store, agent: str | None = None) -> list[AgentProcess]:
    ready(store)
    sql = "SELECT id, agent, pid, pgid, start_time, command, started_at FROM agent_processes"
    params: tuple[str, ...] = ()
    if agent is not None:
        sql += " WHERE agent = ?"
        params = (agent,)
    rows = store.conn.execute(sql + " ORDER BY id", params).fetchall()
    return [AgentProcess(*row) for row in rows]
