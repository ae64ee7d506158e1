"""Keeping the context files of every agent worktree current: rendered from the status report
and the coordination state, written only when their content changed. Callers that change what
the files show (a pause, a lock, a request) call `refresh_context_files` afterwards."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import threading
from pathlib import Path
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination import completion, locks, pauses, requests
from gitwarden.coordination.scope import GITWARDEN_DIR
from gitwarden.errors import GitwardenError
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, list_events, record_event
from gitwarden.views.context_files import (
    AgentSummary,
    LockLine,
    RequestLine,
    SharedState,
    render_assignment,
    render_requests,
    render_state,
)
from gitwarden.views.status import collect_status

_log = logging.getLogger(__name__)

CONTEXT_EXCLUDES = (f"/{GITWARDEN_DIR}/", "/.claude/settings.local.json")


def refresh_context_files(workspace: Workspace, store: Store,
                          report: dict[str, Any] | None = None) -> list[Path]:
    """Rewrite the context files of every agent whose content changed; returns those written.

    `report` is the status report to render (the daemon gives the one it holds in memory);
    without it the report is read from git (`collect_status`).
    Never raises: it runs after state changes that have already happened (a pause, a lock), so
    a failure here is logged and recorded as a `context.refresh_failed` event instead."""
    try:
        return _refresh_context_files(workspace, store, report)
    except Exception as exc:
        _refresh_failed(store, f"{type(exc).__name__}: {exc}")
        return []


def _refresh_context_files(workspace: Workspace, store: Store,
                           report: dict[str, Any] | None) -> list[Path]:
    ensure_excluded(workspace.repo.common_dir, CONTEXT_EXCLUDES)
    state, summaries = _shared_state(workspace, store,
                                     report if report is not None else _status_report(workspace))
    state_text = render_state(state)
    open_requests = requests.list_requests(store)
    written: list[Path] = []
    failures: list[str] = []
    for agent in workspace.agents:
        if not agent.exists or agent.name not in summaries:
            continue
        inbox = [RequestLine(r.id, r.ts, r.from_agent, r.text) for r in open_requests
                 if r.to_agent == agent.name]
        directory = agent.path / GITWARDEN_DIR
        try:
            for name, text in (("ASSIGNMENT.md",
                                render_assignment(summaries[agent.name], state.base)),
                               ("STATE.md", state_text),
                               ("REQUESTS.md", render_requests(agent.name, inbox))):
                if _write_if_changed(directory / name, text):
                    written.append(directory / name)
        except (OSError, UnicodeError) as exc:  # one bad worktree must not stop the others
            failures.append(f"{agent.name}: {type(exc).__name__}: {exc}")
    if failures:
        _refresh_failed(store, "; ".join(failures))
    return written


def _refresh_failed(store: Store, detail: str) -> None:
    message = f"could not refresh the context files: {detail}"
    _log.warning("gitwarden: warning: %s", message)
    with contextlib.suppress(Exception):
        record_event(store, EventKind.CONTEXT_REFRESH_FAILED, message, severity="error",
                     data={"error": detail})


def _shared_state(workspace: Workspace, store: Store,
                  report: dict[str, Any]) -> tuple[SharedState, dict[str, AgentSummary]]:
    by_name = {entry["name"]: entry for entry in report.get("agents", [])}
    paused = pauses.paused_agents(store)
    done = completion.completions(store)
    health = _last_health(store)
    summaries: dict[str, AgentSummary] = {}
    for agent in workspace.agents:
        entry = by_name.get(agent.name, {})
        pause = paused.get(agent.name)
        summaries[agent.name] = AgentSummary(
            name=agent.name, branch=agent.branch, path=str(agent.path),
            task=agent.settings.task, scope=agent.settings.scope,
            state=entry.get("state", agent.worktree_state),
            changed=tuple(entry.get("changed", ())), overlaps=tuple(entry.get("overlaps", ())),
            paused=f"{pause.reason} (by {pause.by})" if pause else None,
            done=done[agent.name].summary if agent.name in done else None,
            health=health.get(agent.name), base=_base_line(agent.name, entry.get("base")))
    switch = pauses.kill_switch(store)
    lock_lines = [LockLine(lock.pattern, lock.agent, lock.reason, lock.expires_at, lock.kind)
                  for lock in locks.list_locks(store, include_expired=False)]
    state = SharedState(
        base=report.get("base", {}).get("branch") or _base_name(workspace),
        agents=[summaries[a.name] for a in workspace.agents], locks=lock_lines,
        overlaps={o["path"]: o["agents"] for o in report.get("overlaps", [])},
        kill_switch=f"{switch.reason} (by {switch.by})" if switch else None)
    return state, summaries


def _base_line(name: str, base: dict[str, Any] | None) -> str | None:
    """"3 commit(s) behind; conflicts in f.py: run `gitwarden sync NAME` ..." or None."""
    if not base or not base.get("behind"):
        return None
    line = f"{base['behind']} commit(s) behind"
    if base.get("conflict"):
        paths = ", ".join(f"`{c['path']}`" for c in base["conflicts"][:10])
        return f"{line}; your work CONFLICTS with the base in {paths}: resolve it " \
               f"(e.g. `git rebase` or `git merge` the base yourself)"
    if base.get("rebase") == "clean":
        return f"{line}; a sync would be clean: `gitwarden sync {shlex.quote(name)}`"
    return f"{line}; rebase {base.get('rebase')}"


def _status_report(workspace: Workspace) -> dict[str, Any]:

    try:
        return collect_status(workspace)
    except (GitwardenError, OSError):
        return {}


def _base_name(workspace: Workspace) -> str:
    try:
        return workspace.base_branch
    except GitwardenError:
        return "(unknown)"


def _last_health(store: Store) -> dict[str, str]:
    result: dict[str, str] = {}
    for event in list_events(store, limit=200, kinds=_HEALTH_KINDS):
        if event.agent:
            result[event.agent] = event.message
    return result


_HEALTH_KINDS = (EventKind.HEALTH_PASS, EventKind.HEALTH_FAIL, EventKind.HEALTH_CULPRIT)


def _write_if_changed(path: Path, text: str) -> bool:
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_bytes(text.encode("utf-8", "backslashreplace"))
    tmp.replace(path)
    return True


def ensure_excluded(common_dir: Path, patterns: tuple[str, ...]) -> None:
    """Add `patterns` to <common dir>/info/exclude (shared by every worktree) if missing."""
    exclude = common_dir / "info" / "exclude"
    try:
        existing = exclude.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    present = {line.strip() for line in existing.splitlines()}
    missing = [p for p in patterns if p not in present]
    if not missing:
        return
    exclude.parent.mkdir(parents=True, exist_ok=True)
    prefix = "" if not existing or existing.endswith("\n") else "\n"
    with exclude.open("a", encoding="utf-8") as handle:
        handle.write(prefix + "# gitwarden (context files, local agent settings)\n"
                     + "".join(f"{p}\n" for p in missing))
