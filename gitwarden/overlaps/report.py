"""The `gitwarden conflicts` report: live from the daemon's state, else computed from git."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from gitwarden.control.socket import daemon_running
from gitwarden.git.changes import many_worktree_changes, resolve_base
from gitwarden.overlaps.base import base_target, standings
from gitwarden.overlaps.detect import find_overlaps
from gitwarden.overlaps.predict import MergePredictor, Side
from gitwarden.overlaps.table import open_overlaps
from gitwarden.store.db import Store

if TYPE_CHECKING:
    from gitwarden.agents.workspace import Workspace


def collect_conflicts(workspace: Workspace) -> dict[str, Any]:
    """Overlaps between agents (the daemon's live state, else computed from git) and the
    agents whose work conflicts with the base (always computed from git: one merge-base and
    one diff per agent)."""
    report = _from_daemon_state(workspace) if daemon_running(workspace.repo) else \
        _from_git(workspace)
    report["base_conflicts"] = base_conflicts(workspace)
    return report


def base_conflicts(workspace: Workspace) -> list[dict[str, Any]]:
    """One entry per file where an agent's current work conflicts with the base."""
    base_commit = resolve_base(workspace.repo.main_worktree, workspace.base_branch)
    target, commit = base_target(workspace.repo.main_worktree, workspace.base_branch,
                                 base_commit, workspace.config.base_sync.remote)
    agents = [a for a in workspace.agents if a.exists]
    changes = many_worktree_changes([(a.path, a.head) for a in agents], commit)
    found = standings(workspace.repo.common_dir, commit, [
        (a.name, a.path, a.head, c.committed, (*c.uncommitted, *c.untracked))
        for a, c in zip(agents, changes, strict=True) if not c.error])
    return [{"agent": name, "base": target, "behind": standing.behind, **conflict.as_json()}
            for name, standing in sorted(found.items()) for conflict in standing.conflicts]


def _from_daemon_state(workspace: Workspace) -> dict[str, Any]:

    now = time.time()
    with Store.open(workspace.repo) as store:
        records = open_overlaps(store)
    return {"source": "daemon", "overlaps": [r.as_json(now) for r in records]}


def _from_git(workspace: Workspace) -> dict[str, Any]:

    base_commit = resolve_base(workspace.repo.main_worktree, workspace.base_branch)
    agents = {a.name: a for a in workspace.agents if a.exists}
    changes = many_worktree_changes([(a.path, a.head) for a in agents.values()], base_commit)
    changed = {name: c.changed for name, c in zip(agents, changes, strict=True)}
    overlaps = find_overlaps(changed)
    predictor = MergePredictor(workspace.repo.common_dir) if overlaps else None
    result = []
    for path, names in overlaps.items():
        assert predictor is not None
        prediction = predictor.predict(
            path, [Side(n, agents[n].path, agents[n].head) for n in names])
        result.append({"path": path, "agents": list(names), "first": None, "opened": None,
                       "age": None, "classification": prediction.classification,
                       "hunks": [h.as_json() for h in prediction.hunks],
                       "reason": prediction.reason, "resolved": None})
    return {"source": "git", "overlaps": result}
