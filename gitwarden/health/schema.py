"""The health tables (runs, verdicts, progress, reverts, automatic actions) and their
migrations, applied by `gitwarden.health.table`, the one module that reads and writes them."""

from __future__ import annotations

MIGRATIONS = [
    """
    CREATE TABLE health_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        agent TEXT,
        trigger TEXT NOT NULL,
        check_name TEXT NOT NULL,
        commit_id TEXT NOT NULL,
        tree_id TEXT,
        outcome TEXT NOT NULL,
        exit_code INTEGER,
        timed_out INTEGER NOT NULL DEFAULT 0,
        duration REAL NOT NULL,
        log_path TEXT
    );
    CREATE INDEX health_runs_agent ON health_runs(agent, check_name, id);
    CREATE INDEX health_runs_tree ON health_runs(tree_id, check_name);
    CREATE TABLE health_verdicts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        agent TEXT NOT NULL,
        check_name TEXT NOT NULL,
        trigger TEXT NOT NULL,
        commit_id TEXT NOT NULL,
        verdict TEXT NOT NULL,
        culprit TEXT,
        candidates TEXT NOT NULL DEFAULT '',
        runs INTEGER NOT NULL DEFAULT 0,
        log_path TEXT,
        action TEXT,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX health_verdicts_agent ON health_verdicts(agent, check_name, id);
    CREATE TABLE health_reverts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        agent TEXT NOT NULL,
        culprit TEXT NOT NULL,
        revert_commit TEXT NOT NULL,
        previous_head TEXT NOT NULL,
        backup_ref TEXT,
        safety_checkpoint TEXT
    );
    CREATE INDEX health_reverts_agent ON health_reverts(agent, ts)
    """,
    # status of a revert: started (records written, branch maybe moved), done, aborted;
    # health_actions: the one automatic action taken per (agent, culprit), never repeated;
    # agents: for integration verdicts, the agents merged in.
    """
    ALTER TABLE health_reverts ADD COLUMN status TEXT NOT NULL DEFAULT 'done';
    CREATE TABLE health_actions (
        agent TEXT NOT NULL,
        culprit TEXT NOT NULL,
        action TEXT NOT NULL,
        ts REAL NOT NULL,
        repeats INTEGER NOT NULL DEFAULT 0,
        notice TEXT,
        PRIMARY KEY (agent, culprit)
    );
    ALTER TABLE health_verdicts ADD COLUMN agents TEXT NOT NULL DEFAULT ''
    """,
    # config_hash: the check's command, env and timeout, hashed: a result is reused for any
    # commit with the same tree and the same check config (health_runs_cache);
    # cached: the verdict was reached from reused results only; left_out: integration
    # verdicts, JSON {agent: why}; health_progress: the commit each agent is being checked at.
    """
    ALTER TABLE health_runs ADD COLUMN config_hash TEXT;
    CREATE INDEX health_runs_cache ON health_runs(check_name, tree_id, config_hash, id);
    ALTER TABLE health_verdicts ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE health_verdicts ADD COLUMN left_out TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE health_progress (
        agent TEXT PRIMARY KEY,
        commit_id TEXT NOT NULL,
        state TEXT NOT NULL,
        pid INTEGER NOT NULL,
        ts REAL NOT NULL
    )
    """,
]
