"""Coordination between agents, for the CLI, the daemon and the health service: pausing and
resuming (with SIGSTOP/SIGCONT of registered processes), the kill switch, lock and scope
violations, and the context files in every worktree."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitwarden.coordination import completion, locks, pauses, requests
from gitwarden.coordination import lock_rules as core_locks
from gitwarden.coordination.processes import signal_group
from gitwarden.coordination.scope import (
    GITWARDEN_DIR,
    OutsideRepository,
    in_scope,
    is_gitwarden_file,
    relative_to_root,
)
from gitwarden.store.events import list_events, record_event
from gitwarden.views.context_files import (
    AgentSummary,
    LockLine,
    RequestLine,
    SharedState,
    printable,
    render_assignment,
    render_requests,
    render_state,
)

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace
    from gitwarden.store.db import Store

_log = logging.getLogger(__name__)

CONTEXT_EXCLUDES = (f"/{GITWARDEN_DIR}/", "/.claude/settings.local.json")


@dataclass(frozen=True)
class Violation:
    """A change by `agent` to `path` it may not make: locked by another agent, or out of scope."""

    agent: str
    path: str
    kind: str  # "locked" | "scope"
    message: str
    holder: str | None = None
    pattern: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"agent": self.agent, "path": self.path, "kind": self.kind,
                "message": self.message, "holder": self.holder, "pattern": self.pattern}


# --- identity ---------------------------------------------------------------------------------

def current_agent(workspace: Workspace, explicit: str | None = None,
                  cwd: Path | None = None) -> Agent | None:
    """--agent, else GITWARDEN_AGENT, else the agent whose worktree contains `cwd`."""
    from gitwarden.agents.identity import agent_from_env
    from gitwarden.agents.model import agent_for_path

    name = explicit or agent_from_env()
    if name:
        return workspace.agent(name)
    return agent_for_path(workspace.agents, (cwd or Path.cwd()).resolve())


def require_agent(workspace: Workspace, explicit: str | None = None,
                  cwd: Path | None = None, *, how: str = "pass --agent NAME") -> Agent:
    """The current agent, or a UsageError ending with `how` to name it on the command line."""
    from gitwarden.errors import UsageError

    agent = current_agent(workspace, explicit, cwd)
    if agent is None:
        raise UsageError("cannot tell which agent you are: run inside an agent's worktree, "
                         f"set GITWARDEN_AGENT, or {how}")
    return agent


# --- pause / resume / kill switch -------------------------------------------------------------

def apply_pause(workspace: Workspace, store: Store, agent_name: str, reason: str,
                by: str) -> None:
    """Pause an agent: hooks deny its edits and commits, its registered processes stop."""
    newly = pauses.pause_agents(store, [agent_name], reason, by)
    stopped = _signal_processes(store, [agent_name], signal.SIGSTOP)
    if newly:
        message = f"paused agent {agent_name}: {reason} (by {by})"
        record_event(store, "agent.paused", message, agent=agent_name, severity="warning",
                     data={"reason": reason, "by": by, "stopped_processes": stopped,
                           "notify": True, "title": f"gitwarden: paused {agent_name}",
                           "body": message})
    refresh_context_files(workspace, store)


def apply_resume(workspace: Workspace, store: Store, agent_name: str,
                 by: str = "user") -> bool:
    """Resume one agent; returns whether it was paused."""
    was = pauses.resume_agent(store, agent_name)
    continued = _signal_processes(store, [agent_name], signal.SIGCONT)
    if was:
        record_event(store, "agent.resumed", f"resumed agent {agent_name} (by {by})",
                     agent=agent_name, data={"by": by, "continued_processes": continued})
    refresh_context_files(workspace, store)
    return was


def apply_stop(workspace: Workspace, store: Store, reason: str, by: str = "user") -> list[str]:
    """The kill switch: pause every agent at once. Returns the names paused."""
    names = [agent.name for agent in workspace.agents]
    pauses.engage_kill_switch(store, names, reason, by)
    stopped = _signal_processes(store, None, signal.SIGSTOP)
    message = f"kill switch: paused all {len(names)} agents: {reason}"
    record_event(store, "killswitch.engaged", message, severity="error",
                 data={"agents": names, "reason": reason, "by": by,
                       "stopped_processes": stopped, "notify": True,
                       "title": "gitwarden: all agents stopped", "body": message})
    refresh_context_files(workspace, store)
    return names


def apply_resume_all(workspace: Workspace, store: Store, by: str = "user") -> list[str]:
    """Lift every pause and the kill switch. Returns the agents that were paused."""
    names = pauses.resume_all(store)
    continued = _signal_processes(store, None, signal.SIGCONT)
    record_event(store, "agent.resumed_all", f"resumed all agents ({len(names)} were paused)",
                 data={"agents": names, "by": by, "continued_processes": continued})
    refresh_context_files(workspace, store)
    return names


def _signal_processes(store: Store, agents: list[str] | None, signum: signal.Signals) -> int:
    count = 0
    for process in pauses.agent_processes(store):
        if agents is not None and process.agent not in agents:
            continue
        if signal_group(process.pgid, process.start_time, signum):
            count += 1
        elif signum == signal.SIGSTOP and process.pgid != os.getpgid(0):
            # gone: forget it so it is not signalled again (a new process may get its pid)
            pauses.unregister_process(store, process.id)
    return count


# --- violations -------------------------------------------------------------------------------

def check_paths(workspace: Workspace, store: Store, agent_name: str,
                paths: list[str]) -> list[Violation]:
    """The changes among `paths` (relative to the agent's worktree, or absolute) that break a
    lock held by another agent or the agent's scope. Recording them is up to the caller."""
    agent = next((a for a in workspace.agents if a.name == agent_name), None)
    if agent is None:
        return []
    held = locks.list_locks(store, kind=core_locks.PATH, include_expired=False)
    violations: list[Violation] = []
    for raw in paths:
        try:
            path = relative_to_root(raw, str(agent.path), cwd=str(agent.path))
        except OutsideRepository:
            continue
        if is_gitwarden_file(path):
            continue
        shown = printable(path)
        covering = core_locks.locks_covering(held, path, other_than=agent_name)
        if covering:
            lock = covering[0]
            violations.append(Violation(
                agent=agent_name, path=shown, kind="locked", holder=lock.agent,
                pattern=lock.pattern,
                message=f"{agent_name} changed {shown}, {core_locks.describe_holder(lock)}"))
        elif not in_scope(agent.settings.scope, path):
            violations.append(Violation(
                agent=agent_name, path=shown, kind="scope",
                message=f"{agent_name} changed {shown}, outside its scope "
                        f"({', '.join(agent.settings.scope)})"))
    return violations


# --- context files ----------------------------------------------------------------------------

def refresh_context_files(workspace: Workspace, store: Store) -> list[Path]:
    """Rewrite the context files of every agent whose content changed; returns those written.

    Never raises: it runs after state changes that have already happened (a pause, a lock), so
    a failure here is logged and recorded as a `context.refresh_failed` event instead."""
    try:
        return _refresh_context_files(workspace, store)
    except Exception as exc:
        _refresh_failed(store, f"{type(exc).__name__}: {exc}")
        return []


def _refresh_context_files(workspace: Workspace, store: Store) -> list[Path]:
    ensure_excluded(workspace.repo.common_dir, CONTEXT_EXCLUDES)
    state, summaries = _shared_state(workspace, store)
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
        record_event(store, "context.refresh_failed", message, severity="error",
                     data={"error": detail})


def _shared_state(workspace: Workspace,
                  store: Store) -> tuple[SharedState, dict[str, AgentSummary]]:
    report = _status_report(workspace)
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
            health=health.get(agent.name))
    switch = pauses.kill_switch(store)
    lock_lines = [LockLine(lock.pattern, lock.agent, lock.reason, lock.expires_at, lock.kind)
                  for lock in locks.list_locks(store, include_expired=False)]
    state = SharedState(
        base=report.get("base", {}).get("branch") or _base_name(workspace),
        agents=[summaries[a.name] for a in workspace.agents], locks=lock_lines,
        overlaps={o["path"]: o["agents"] for o in report.get("overlaps", [])},
        kill_switch=f"{switch.reason} (by {switch.by})" if switch else None)
    return state, summaries


def _status_report(workspace: Workspace) -> dict[str, Any]:
    from gitwarden.errors import GitwardenError
    from gitwarden.views.status import collect_status

    try:
        return collect_status(workspace)
    except (GitwardenError, OSError):
        return {}


def _base_name(workspace: Workspace) -> str:
    from gitwarden.errors import GitwardenError

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


_HEALTH_KINDS = ("health.pass", "health.fail", "health.passed", "health.failed",
                 "health.culprit", "health.result")


def _write_if_changed(path: Path, text: str) -> bool:
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
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
