"""The status report: agents, changed sets and overlaps, as plain data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitwarden.control.socket import lock_held, request
from gitwarden.coordination.completion import completions
from gitwarden.coordination.locks import list_locks
from gitwarden.coordination.pauses import kill_switch
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.git.changes import WorktreeChanges, many_worktree_changes
from gitwarden.git.worktrees import operation_in_progress
from gitwarden.health.results import status_fields
from gitwarden.overlaps.base import base_target, standings
from gitwarden.overlaps.detect import find_overlaps
from gitwarden.store.db import DB_NAME, Store, row_counts, state_size

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace


def collect_status(workspace: Workspace) -> dict[str, Any]:
    """Everything `gitwarden status --json` prints."""
    repo = workspace.repo
    base_commit = _base_commit(workspace)
    agents = workspace.agents
    present = [a for a in agents if a.exists]
    changes = dict(zip((a.name for a in present),
                       many_worktree_changes([(a.path, a.head) for a in present], base_commit),
                       strict=True))
    changed_sets: dict[str, Any] = {name: c.changed for name, c in changes.items()}
    remote = _remote(workspace)
    if remote is not None:
        changed_sets.update(remote["changed"])
    overlaps = find_overlaps(changed_sets)
    by_agent: dict[str, list[str]] = {}
    for path, names in overlaps.items():
        for name in names:
            by_agent.setdefault(name, []).append(path)
    target, target_commit = workspace.base_branch, base_commit
    against_base = {}
    if base_commit is not None:  # an unborn base: nothing to compare with yet
        target, target_commit = base_target(repo.main_worktree, workspace.base_branch,
                                            base_commit, workspace.config.base_sync.remote)
        against_base = standings(repo.common_dir, target_commit, [
            (a.name, a.path, a.head, c.committed, (*c.uncommitted, *c.untracked))
            for a in present if not (c := changes[a.name]).error])
    report = {
        "repository": str(repo.common_dir),
        "main_worktree": str(repo.main_worktree),
        "base": {"branch": workspace.base_branch, "commit": base_commit,
                 "compared_with": target, "compared_commit": target_commit},
        "agents": [{**_agent_entry(a, changes.get(a.name), by_agent.get(a.name, [])),
                    "base": against_base[a.name].as_json() if a.name in against_base else None}
                   for a in agents],
        "overlaps": [{"path": path, "agents": list(names)} for path, names in overlaps.items()],
    }
    if remote is not None:
        report["remote"] = remote
    _add_recorded_state(workspace, report)
    return report


def _base_commit(workspace: Workspace) -> str | None:
    """The base commit, or None while the base branch has no commit yet (a new repository:
    nothing is committed, so every change is uncommitted)."""
    try:
        return workspace.base_commit()
    except UsageError:
        if workspace.base_is_unborn():
            return None
        raise


def _remote(workspace: Workspace) -> dict[str, Any] | None:
    """[remote]: the other machines as last fetched (no network call)."""
    config = workspace.config.remote
    if config is None:
        return None
    # Lazy: most repositories have no [remote], and `gitwarden status` is run often (issue 17).
    from gitwarden.remote.view import remote_report

    repo = workspace.repo
    if not (repo.state_dir / DB_NAME).exists():
        return remote_report(repo.main_worktree, None, config)
    with Store.open(repo) as store:
        return remote_report(repo.main_worktree, store, config)


def _daemon_state(workspace: Workspace) -> dict[str, Any]:
    """Whether a `gitwarden watch` daemon guards this repository right now."""

    if not lock_held(workspace.repo.state_dir):
        return {"running": False, "pid": None}
    try:
        answer = request(workspace.repo, "ping", timeout=2.0)
    except GitwardenError:
        return {"running": False, "pid": None}
    return {"running": bool(answer.get("ok")), "pid": answer.get("pid")}


def _add_recorded_state(workspace: Workspace, report: dict[str, Any]) -> None:
    """Health, pause and lock fields from the state store (when gitwarden has state here)."""

    report["kill_switch"] = None
    report["daemon"] = _daemon_state(workspace)
    report["state"] = {"path": str(workspace.repo.state_dir / DB_NAME), "bytes": 0,
                       "database": 0, "wal": 0, "free": 0, "rows": {}}
    if not (workspace.repo.state_dir / DB_NAME).exists():
        for entry in report["agents"]:
            entry.update({"health": "unknown", "health_checks": {}, "health_results": {},
                          "health_stale": False, "culprit": None,
                          "paused": False, "pause_reason": None, "locks": [], "done": None})
        return
    with Store.open(workspace.repo) as store:
        report["state"].update(state_size(store).as_json(), rows=row_counts(store))
        switch = kill_switch(store)
        if switch is not None:
            report["kill_switch"] = {"reason": switch.reason, "by": switch.by,
                                     "since": switch.since}
        finished = completions(store)
        held: dict[str, list[str]] = {}
        for lock in list_locks(store, include_expired=False):
            held.setdefault(lock.agent, []).append(lock.pattern)
        for entry in report["agents"]:
            entry.update(status_fields(store, entry["name"], workspace))
            entry["locks"] = sorted(held.get(entry["name"], []))
            done = finished.get(entry["name"])
            entry["done"] = {"summary": done.summary, "at": done.ts} if done else None
            if entry["paused"] and entry["state"] == "ok":
                entry["state"] = "paused"
            elif done and entry["state"] == "ok":
                entry["state"] = "done"


def _agent_entry(agent: Agent, changes: WorktreeChanges | None,
                 overlaps: list[str]) -> dict[str, Any]:
    state = agent.worktree_state
    operation = operation_in_progress(agent.git_dir) if agent.exists else None
    if changes is not None and changes.error:
        state = "error"
    elif operation:
        state = operation
    entry: dict[str, Any] = {
        "name": agent.name,
        "path": str(agent.path),
        "branch": agent.branch,
        "head": agent.head,
        "state": state,
        "detached": agent.branch is None,
        "operation": operation,
        "scope": list(agent.settings.scope),
        "policy": agent.settings.policy,
        "merge_base": changes.merge_base if changes else None,
        "ahead": changes.ahead if changes else 0,
        "behind": changes.behind if changes else 0,
        "changed": list(changes.changed) if changes else [],
        "committed": list(changes.committed) if changes else [],
        "uncommitted": list(changes.uncommitted) if changes else [],
        "untracked": list(changes.untracked) if changes else [],
        "overlaps": overlaps,
    }
    if changes is not None and changes.error:
        entry["error"] = changes.error
    return entry
