"""The Claude Code hook: `gitwarden hook claude`, a thin adapter over the decision core.

Protocol followed: Claude Code hooks reference (https://code.claude.com/docs/en/hooks, copy
of 2026-08-22, Claude Code v2.1.x), events PreToolUse and PostToolUse; SessionStart,
UserPromptSubmit and Stop are answered by gitwarden.integrations.claude_context.

Claude Code sends JSON on stdin (`hook_event_name`, `tool_name`, `tool_input`, `cwd`).
PreToolUse: the call is turned into a ToolRequest, gitwarden.coordination.tool_guard
decides, and a deny is printed as `permissionDecision: deny` with the reason (exit 0);
an allow prints nothing. PostToolUse: what the call changed in the agent's worktree is
compared with its scope and the locks, and the agent is told at once (additionalContext)
what to undo. Identity comes from where the call runs (the worktree holding the real path
of `cwd`), never from what it claims. When gitwarden cannot decide (bad config, corrupt
state, bad input) the call is denied with the problem and its fix, unless the user set
`[hooks] on_error = "allow"`. This runs on every tool call: it reads git's files and the
state database directly and imports nothing heavy (no pygit2, watchdog, APScheduler).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from contextvars import ContextVar

# typing costs milliseconds on the hook's path: annotations only
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
SHELL_TOOLS = frozenset({"Bash"})
ERROR_LOG = "hook-errors.log"
CONTEXT_WINDOW = 30.0  # PostToolUse without duration_ms: files changed this recently count


class HookInputError(ValueError):
    """The hook's stdin is not the JSON object Claude Code sends."""


class Place:
    """The agent a tool call comes from, its worktree, the repository, and the config."""

    def __init__(self, agent: str, root: str, common_dir: str, config: Any,
                 worktrees: dict[str, str | None], claimed: str | None) -> None:
        self.agent = agent
        self.root = root
        self.common_dir = common_dir
        self.config = config
        self.worktrees = worktrees
        self.claimed = claimed


def main(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    source = stdin or sys.stdin
    sink = stdout or sys.stdout
    payload: dict[str, Any] = {}
    event = "PreToolUse"
    try:
        try:
            loaded = json.loads(source.read() or "{}")
        except ValueError as exc:
            raise HookInputError(f"the hook input is not JSON ({exc})") from exc
        if not isinstance(loaded, dict):
            raise HookInputError("the hook input is not a JSON object")
        payload = loaded
        event = str(payload.get("hook_event_name") or "PreToolUse")
        if event == "PostToolUse":
            _emit(sink, event, context=post_tool_use(payload))
            return 0
        decision = pre_tool_use(payload)
        reason = decision.reason
        allow = decision.allow
    except Exception as exc:
        allow, reason = _on_error(exc, payload, event)
    if not allow and event != "PostToolUse":
        _emit(sink, event, deny=_printable(reason or "denied by gitwarden"))
    return 0


def _emit(sink: IO[str], event: str, *, deny: str | None = None,
          context: str | None = None) -> None:
    output: dict[str, Any] = {"hookEventName": event}
    if deny is not None:
        output.update(permissionDecision="deny", permissionDecisionReason=deny)
    elif context:
        output["additionalContext"] = _printable(context)
    else:
        return
    json.dump({"hookSpecificOutput": output}, sink)
    sink.write("\n")


def _kind(payload: dict[str, Any]) -> str:
    from gitwarden.coordination.tool_guard import EDIT, OTHER, SHELL

    tool = str(payload.get("tool_name") or "")
    return EDIT if tool in EDIT_TOOLS else SHELL if tool in SHELL_TOOLS else OTHER


def pre_tool_use(payload: dict[str, Any]) -> Any:
    """The decision for one PreToolUse call."""
    # Imports in this module are lazy: the hook runs on every agent tool call and loads only
    # what the decision at hand needs.
    from gitwarden.coordination.tool_guard import ALLOW, OTHER, ToolRequest, decide

    kind = _kind(payload)
    place = resolve_place(payload)
    if place is None:
        return ALLOW
    if kind == OTHER and not place.claimed:
        return ALLOW
    cwd = _cwd(payload)
    request = ToolRequest(place.agent, kind, cwd, paths=_target_paths(payload, cwd),
                          command=_command(payload), claimed=place.claimed)
    decision = decide(request, _facts(place))
    if not decision.allow and place.claimed and place.claimed != place.agent:
        _record_refused_claim(place, str(decision.reason))
    return decision


def post_tool_use(payload: dict[str, Any]) -> str | None:
    """What the agent must undo after this call, or None."""
    from gitwarden.coordination.scope import inside
    from gitwarden.coordination.tool_guard import EDIT, OTHER, path_problem

    kind = _kind(payload)
    if kind == OTHER:
        return None
    place = resolve_place(payload)
    if place is None:
        return None
    facts = _facts(place)
    facts.paused = None
    root = os.path.realpath(place.root)
    if kind == EDIT:
        changed = {}
        for path in _target_paths(payload, _cwd(payload)):
            rel = inside(os.path.realpath(path), root)
            if rel:
                changed[rel] = os.path.exists(path)
    else:
        window = payload.get("duration_ms")
        since = time.time() - (float(window) / 1000 + 2 if isinstance(window, int | float)
                               else CONTEXT_WINDOW)
        changed = _recently_changed(root, since)
    problems = []
    for rel, tracked in sorted(changed.items()):
        problem = path_problem(place.agent, rel, facts)
        if problem:
            problems.append((rel, tracked, problem.split(". Do not edit")[0]
                             .split(". Edit only")[0]))
    if not problems:
        return None
    import shlex

    lines = [f"gitwarden: this tool call changed files agent {place.agent} may not change; "
             "undo these changes now:"]
    for rel, tracked, problem in problems:
        undo = (f"git checkout -- {shlex.quote(rel)}" if tracked
                else f"rm -- {shlex.quote(rel)}")
        lines.append(f"- {problem}. Undo: `{undo}`")
    return "\n".join(lines)


def _recently_changed(root: str, since: float) -> dict[str, bool]:
    """Paths of the worktree that git status shows as changed and that were written after
    `since`, with whether git tracks them (so the undo can be a checkout)."""
    import subprocess

    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    proc = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all",
                           "--no-renames"], cwd=root, env=env, capture_output=True, timeout=20,
                          check=False)
    changed: dict[str, bool] = {}
    for entry in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if len(entry) < 4:
            continue
        status, rel = entry[:2], entry[3:]
        try:
            if os.lstat(os.path.join(root, rel)).st_mtime < since:
                continue
        except OSError:
            continue  # deleted: nothing says when
        changed[rel] = status != "??"
    return changed


def resolve_place(payload: dict[str, Any]) -> Place | None:
    """The agent this call comes from: the worktree holding the real path of `cwd` (nested
    repositories and submodules climbed past), else GITWARDEN_AGENT; None for the user."""
    from gitwarden.agents.identity import agent_from_env, find_worktree

    cwd = _cwd(payload)
    location = find_worktree(cwd)
    if location is None:
        return None
    config, worktrees = _reads().place_basis(location)
    here = os.path.realpath(location.root)
    place = worktrees.get(here) if here in worktrees else \
        _agent_name(here, location.admin_name, location.main_worktree, config)
    claimed = agent_from_env()
    if place is None and claimed is None:
        return None
    if place is not None:
        return Place(place, here, location.common_dir, config, worktrees, claimed)
    assert claimed is not None
    root = next((r for r, name in worktrees.items() if name == claimed), None)
    if root is None:
        raise LookupError(f"GITWARDEN_AGENT={claimed} names no agent of this repository; "
                          "unset it or name an agent")
    return Place(claimed, root, location.common_dir, config, worktrees, None)


def _facts(place: Place) -> Any:
    from gitwarden.coordination.tool_guard import GuardFacts, HeldLock

    settings = place.config.agents.get(place.agent) if place.config else None
    now = time.time()
    pauses, stopped, locks = _reads().state(place.common_dir)
    paused = _pause_text(place.agent, pauses.get(place.agent), stopped)
    held = [lock for lock in (HeldLock(*row) for row in locks) if not lock.expired(now)]
    return GuardFacts(place.root, settings.scope if settings else (), held, paused,
                      place.worktrees, place.common_dir, now,
                      is_ignored=lambda rel: _ignored(place.root, rel))


def _ignored(root: str, rel: str) -> bool:
    """Whether git ignores `rel` in the worktree (asked only before a scope denial)."""
    import subprocess

    try:
        # a directory named by a `dir/` pattern is known to git as one only with the slash
        names = [rel] if os.path.isfile(os.path.join(root, rel)) else [rel, f"{rel}/"]
        proc = subprocess.run(["git", "check-ignore", "--", *names], cwd=root,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
                              capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


class DirectReads:
    """What a decision reads besides the call itself, read afresh on every call (the hook's
    own short process). The daemon answers with gitwarden.integrations.hook_memory's reads,
    which give the same values from memory while the files they come from are unchanged."""

    def place_basis(self, location: Any) -> tuple[Any, dict[str, str | None]]:
        """(config, {worktree root: agent name or None}) of the repository at `location`."""
        from gitwarden.agents.identity import worktree_roots

        config = _load_config(location)
        return config, {root: _agent_name(root, admin, location.main_worktree, config)
                        for root, admin in worktree_roots(location.common_dir)}

    def state(self, common_dir: str) -> tuple[dict[str, Any], bool, list[Any]]:
        """({agent: (reason, paused_by, since)}, kill switch on, path-lock rows (HeldLock's
        columns, expired ones included)) from the state database (none: nothing held)."""
        db = _open_db(common_dir)
        if db is None:
            return {}, False, []
        try:
            return read_state(db)
        finally:
            db.close()


def read_state(db: sqlite3.Connection) -> tuple[dict[str, Any], bool, list[Any]]:
    pauses = {row[0]: tuple(row[1:]) for row in _rows(
        db, "SELECT agent, reason, paused_by, since FROM pauses", ())}
    stopped = bool(_rows(db, "SELECT 1 FROM kill_switch", ()))
    from gitwarden.coordination.tool_guard import HeldLock

    locks = _rows(db, f"SELECT {HeldLock.COLUMNS} FROM locks WHERE kind = 'path' ORDER BY id",
                  ())
    return pauses, stopped, locks


_DIRECT = DirectReads()
# Set by the daemon for the thread answering a hook call (gitwarden.integrations.hook_answers).
READS: ContextVar[Any] = ContextVar("gitwarden_hook_reads", default=None)


def _reads() -> Any:
    return READS.get() or _DIRECT


def _pause_reason(db: sqlite3.Connection, agent: str) -> str | None:
    found = _rows(db, "SELECT reason, paused_by, since FROM pauses WHERE agent = ?", (agent,))
    stopped = bool(found and _rows(db, "SELECT 1 FROM kill_switch", ()))
    return _pause_text(agent, found[0] if found else None, stopped)


def _pause_text(agent: str, paused: Any, stopped: bool) -> str | None:
    if not paused:
        return None
    reason, by, since = paused
    clock = time.strftime("%H:%M", time.localtime(since))
    how = "`gitwarden resume --all`" if stopped else f"`gitwarden resume {agent}`"
    return (f"agent {agent} is paused since {clock} by {by}: {reason}. Stop working "
            f"and wait: no edits or commands until the user runs {how}.")


def _cwd(payload: dict[str, Any]) -> str:
    return os.path.realpath(str(payload.get("cwd") or os.getcwd()))


def _target_paths(payload: dict[str, Any], cwd: str) -> list[str]:
    tool_input = payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return []
    value = tool_input.get("file_path") or tool_input.get("notebook_path")
    return [os.path.join(cwd, str(value))] if value else []


def _command(payload: dict[str, Any]) -> str | None:
    tool_input = payload.get("tool_input")
    value = tool_input.get("command") if isinstance(tool_input, dict) else None
    return value if isinstance(value, str) else None


def _load_config(location: Any) -> Any:
    from gitwarden.integrations.hook_config import load_hook_config

    return load_hook_config(location.main_worktree, location.common_dir)


def _agent_name(root: str, admin_name: str | None, main: str, config: Any) -> str | None:
    """The agent owning the worktree at `root`, named the way gitwarden.agents.model names
    it; None when it is not an agent. Paths are compared resolved."""
    root = os.path.realpath(root)
    agents = dict(config.agents) if config else {}
    for settings in agents.values():
        if settings.path:
            configured = os.path.join(main, os.path.expanduser(settings.path))
            if os.path.realpath(configured) == root:
                return None if settings.exclude else str(settings.name)
    if admin_name is None:
        name = os.path.basename(root) or "main"
        if not (config and config.main_agent):
            return None
    else:
        name = admin_name
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


def _record_refused_claim(place: Place, reason: str) -> None:
    """The event log keeps refused identity claims (rare: the heavier store import is fine)."""
    try:
        from gitwarden.integrations.hook_errors import record_refused_claim

        record_refused_claim(place.root, place.agent, place.claimed or "", reason)
    except Exception as exc:
        _log_failure(exc, place.common_dir, "could not log a refused claim")


def _on_error(exc: BaseException, payload: dict[str, Any], event: str) -> tuple[bool, str]:
    """(allow, reason) when the hook could not decide: deny unless the user opted out."""
    from gitwarden.integrations.hook_errors import on_error_setting, problem_and_fix

    cwd = _cwd(payload) if payload else os.getcwd()
    common_dir, setting = on_error_setting(cwd)
    problem, fix = problem_and_fix(exc)
    if event == "PostToolUse":
        _log_failure(exc, common_dir, "PostToolUse check skipped")
        return True, ""
    if setting == "allow":
        _log_failure(exc, common_dir, "allowing the tool call ([hooks] on_error = \"allow\")")
        return True, ""
    if payload and _kind(payload) == "other":
        return True, ""
    _log_failure(exc, common_dir, "denying the tool call")
    return False, (f"gitwarden cannot check this tool call: {problem}. Fix: {fix}. Until then "
                   "gitwarden refuses edits and commands (the user can set [hooks] on_error = "
                   "\"allow\" in gitwarden.toml to let them through instead).")


def _log_failure(exc: BaseException, common_dir: str | None, what: str) -> None:
    import traceback

    message = f"gitwarden hook: {what}: {type(exc).__name__}: {exc}"
    print(_printable(message), file=sys.stderr)
    if common_dir and os.path.isdir(os.path.join(common_dir, "gitwarden")):
        directory = os.path.join(common_dir, "gitwarden")
    else:
        state_home = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        directory = os.path.join(state_home, "gitwarden")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with open(os.path.join(directory, ERROR_LOG), "a", encoding="utf-8",
                  errors="backslashreplace") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n"
                         f"{traceback.format_exc()}\n")
    except OSError:
        pass


def _printable(text: str) -> str:
    from gitwarden.output import for_terminal

    return for_terminal(text)


if __name__ == "__main__":
    sys.exit(main())
