"""The Claude Code PreToolUse hook: `gitwarden hook claude`.

Claude Code sends JSON on stdin (`tool_name`, `tool_input.file_path`, `cwd`). To refuse a tool
call we print a `permissionDecision: deny` with a reason the agent can act on, and exit 0; to
allow it we print nothing. This runs on every edit: it reads git's files and the state database
directly (no git subprocess) and imports nothing heavy (no pygit2, watchdog, APScheduler).
When gitwarden itself is broken the hook fails open and logs why.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from typing import IO, Any

EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
SHELL_TOOLS = frozenset({"Bash"})
ERROR_LOG = "hook-errors.log"


class HookContext:
    """The agent making the tool call and where its worktree and repository are."""

    def __init__(self, agent: str, root: str, common_dir: str, scope: tuple[str, ...]) -> None:
        self.agent = agent
        self.root = root
        self.common_dir = common_dir
        self.scope = scope


def main(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    source = stdin or sys.stdin
    sink = stdout or sys.stdout
    common_dir: str | None = None
    try:
        payload = json.loads(source.read() or "{}")
        if not isinstance(payload, dict):
            raise ValueError("hook input is not a JSON object")
        context = resolve_context(payload)
        common_dir = context.common_dir if context else None
        reason = decide(payload, context) if context else None
    except Exception as exc:  # fail open: a broken gitwarden must not stop the agent
        _log_failure(exc, common_dir)
        return 0
    if reason:
        json.dump({"hookSpecificOutput": {"hookEventName": "PreToolUse",
                                          "permissionDecision": "deny",
                                          "permissionDecisionReason": reason}}, sink)
        sink.write("\n")
    return 0


def resolve_context(payload: dict[str, Any]) -> HookContext | None:
    """The agent making this tool call, or None when it is not one gitwarden guards."""
    # Imports in this module are lazy: the hook runs on every agent tool call and loads only
    # what the decision at hand needs.
    from gitwarden.agents.identity import agent_from_env, find_worktree

    cwd = str(payload.get("cwd") or os.getcwd())
    location = find_worktree(cwd)
    target = _target_path(payload)
    if location is None and target:
        location = find_worktree(os.path.join(cwd, target))
    if location is None:
        return None
    config = _load_config(location.main_worktree)
    name = agent_from_env() or _agent_name(location, config)
    if name is None:
        return None
    settings = config.agents.get(name) if config else None
    return HookContext(agent=name, root=location.root, common_dir=location.common_dir,
                       scope=settings.scope if settings else ())


def decide(payload: dict[str, Any], context: HookContext) -> str | None:
    """The deny reason for this tool call, or None to allow it."""
    tool = str(payload.get("tool_name") or "")
    if tool not in EDIT_TOOLS and tool not in SHELL_TOOLS:
        return None
    db = _open_db(context.common_dir)
    try:
        if db is not None:
            paused = _pause_reason(db, context.agent)
            if paused:
                return paused
        if tool not in EDIT_TOOLS:
            return None
        target = _target_path(payload)
        if not target:
            return None
        return _path_reason(db, context, target, str(payload.get("cwd") or context.root))
    finally:
        if db is not None:
            db.close()


def _path_reason(db: sqlite3.Connection | None, context: HookContext, target: str,
                 cwd: str) -> str | None:
    """Checked for the path as written and for the file it really is (symbolic links followed):
    a link must not lead around a lock, a scope or the worktree's boundary."""
    from gitwarden.coordination.lock_rules import (
        LOCK_COLUMNS,
        PATH,
        Lock,
        describe_holder,
        locks_covering,
    )
    from gitwarden.coordination.scope import (
        OutsideRepository,
        in_scope,
        relative_to_root,
        resolved_relative_to_root,
    )

    try:
        path = relative_to_root(target, context.root, cwd)
    except OutsideRepository:
        return (f"{target} is outside your worktree {context.root}: agent {context.agent} may "
                "only edit files inside its own worktree.")
    try:
        real = resolved_relative_to_root(target, context.root, cwd)
    except OutsideRepository as exc:
        return (f"{exc}: agent {context.agent} may only edit files inside its own worktree; "
                "do not write through links that lead out of it.")
    paths = [path] if real == path else [path, real]
    via = "" if real == path else f" (through the symbolic link {path})"
    if db is not None:
        now = time.time()
        held = [Lock(*row) for row in _rows(
            db, f"SELECT {LOCK_COLUMNS} FROM locks WHERE kind = ? AND agent != ? AND "
            "(expires_at IS NULL OR expires_at > ?) ORDER BY id", (PATH, context.agent, now))]
        for checked in paths:
            covering = locks_covering(held, checked, other_than=context.agent, now=now)
            if covering:
                lock = covering[0]
                shown = checked + (via if checked == real else "")
                return (f"{shown} is {describe_holder(lock)}. Do not edit it now: work on "
                        f"something else, run `gitwarden lock {checked} --wait 10m` to wait "
                        f"for it, or ask with `gitwarden request --to {lock.agent} "
                        f"\"please release {checked}\"`.")
    for checked in paths:
        if not in_scope(context.scope, checked):
            shown = checked + (via if checked == real else "")
            return (f"{shown} is outside the scope of agent {context.agent} "
                    f"({', '.join(context.scope)}). Edit only files in your scope; if this "
                    "change is really needed, ask the owner with "
                    "`gitwarden request --to AGENT \"...\"`.")
    return None


def _pause_reason(db: sqlite3.Connection, agent: str) -> str | None:
    found = _rows(db, "SELECT reason, paused_by, since FROM pauses WHERE agent = ?", (agent,))
    if not found:
        return None
    reason, by, since = found[0]
    clock = time.strftime("%H:%M", time.localtime(since))
    stopped = _rows(db, "SELECT 1 FROM kill_switch", ())
    how = "`gitwarden resume --all`" if stopped else f"`gitwarden resume {agent}`"
    return (f"agent {agent} is paused since {clock} by {by}: {reason}. Stop working "
            f"and wait: no edits or commands until the user runs {how}.")


def _target_path(payload: dict[str, Any]) -> str | None:
    tool_input = payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return None
    value = tool_input.get("file_path") or tool_input.get("notebook_path")
    return str(value) if value else None


def _load_config(main_worktree: str) -> Any:
    path = os.path.join(main_worktree, "gitwarden.toml")
    if not os.path.exists(path):
        return None
    from pathlib import Path

    from gitwarden.config import load_config

    return load_config(Path(path))


def _agent_name(location: Any, config: Any) -> str | None:
    """The agent owning this worktree, named the way gitwarden.agents.model names it."""
    root = os.path.normpath(location.root)
    main = location.main_worktree
    agents = dict(config.agents) if config else {}
    for settings in agents.values():
        if settings.path:
            configured = os.path.normpath(os.path.join(main, os.path.expanduser(settings.path)))
            if configured == root:
                return None if settings.exclude else str(settings.name)
    if location.is_main:
        main_agent = bool(config and config.main_agent)
        name = os.path.basename(root) or "main"
        if not main_agent:
            return None
        settings = agents.get(name)
        return None if settings and settings.exclude else name
    name = str(location.admin_name)
    settings = agents.get(name)
    return None if settings and settings.exclude else name


def _open_db(common_dir: str) -> sqlite3.Connection | None:
    """The state database, read directly (gitwarden.store.db would pull in subprocess & co)."""
    path = os.path.join(common_dir, "gitwarden", "state.db")
    if not os.path.exists(path):
        return None
    conn = sqlite3.connect(path, timeout=5, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def _rows(db: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Query rows; a table not created yet (that feature never used) means no rows."""
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def _log_failure(exc: BaseException, common_dir: str | None) -> None:
    import traceback

    message = f"gitwarden hook: allowing the tool call, gitwarden failed: " \
              f"{type(exc).__name__}: {exc}"
    print(message, file=sys.stderr)
    if common_dir and os.path.isdir(os.path.join(common_dir, "gitwarden")):
        directory = os.path.join(common_dir, "gitwarden")
    else:
        state_home = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        directory = os.path.join(state_home, "gitwarden")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with open(os.path.join(directory, ERROR_LOG), "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n"
                         f"{traceback.format_exc()}\n")
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
