"""The status report the agents' context files are rendered from, built from what the daemon
holds: the fields `collect_status` would read from git (each agent's state and changed set, the
overlaps, each agent's standing against the base) without a `git status` of every worktree.

Asked for by the worker that refreshes the context files, answered on the pipeline thread
(the only one that may read the tracker): after an overlap opens, the refresh costs a few
reads of the context files instead of one git status per agent, work that grew with the number
of agents and competed with the next file event for the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.errors import GitwardenError
from gitwarden.git.worktrees import operation_in_progress
from gitwarden.overlaps.base_recorder import BaseRecorder
from gitwarden.overlaps.tracker import ChangeTracker


def base_name(workspace: Workspace) -> str | None:
    """The base branch's name; None when it cannot be told (the report then leaves it out)."""
    try:
        return workspace.base_branch
    except GitwardenError:
        return None


def context_report(agents: Mapping[str, Agent], tracker: ChangeTracker,
                   base: BaseRecorder | None, base_branch: str | None) -> dict[str, Any]:
    """The keys of `collect_status`'s report that `refresh_context_files` reads."""
    overlaps = tracker.overlaps
    by_agent: dict[str, list[str]] = {}
    for path in sorted(overlaps):
        for name in overlaps[path].agents:
            by_agent.setdefault(name, []).append(path)
    entries = []
    for name, view in sorted(agents.items()):
        operation = operation_in_progress(view.git_dir) if view.exists else None
        entries.append({"name": name, "state": operation or view.worktree_state,
                        "changed": sorted(tracker.changed(name)),
                        "overlaps": by_agent.get(name, []),
                        "base": base.json_of(name) if base is not None else None})
    report: dict[str, Any] = {
        "agents": entries,
        "overlaps": [{"path": path, "agents": list(overlap.agents)}
                     for path, overlap in sorted(overlaps.items())]}
    if base_branch is not None:
        report["base"] = {"branch": base_branch}
    return report
