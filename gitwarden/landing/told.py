"""After a landing: every agent whose work now conflicts with the new base is told (an event
and a notification; the caller refreshes the context files, where STATE.md shows it) and
offered `gitwarden sync`."""

from __future__ import annotations

import shlex

from gitwarden.agents.workspace import Workspace
from gitwarden.control.socket import daemon_running
from gitwarden.git.changes import many_worktree_changes
from gitwarden.overlaps.base import standings
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_notice


def tell_conflicting_agents(workspace: Workspace, store: Store) -> list[str]:
    """Names of the agents that now conflict with the base. They are told here when no daemon
    runs; a running daemon sees the base move and tells them itself (once)."""
    fresh = type(workspace)(repo=workspace.repo, config=workspace.config)
    base = fresh.base_commit()
    agents = [a for a in fresh.agents if a.exists and a.head is not None]
    changes = many_worktree_changes([(a.path, a.head) for a in agents], base)
    found = standings(fresh.repo.common_dir, base, [
        (a.name, a.path, a.head, c.committed, (*c.uncommitted, *c.untracked))
        for a, c in zip(agents, changes, strict=True) if not c.error])
    told = []
    daemon = daemon_running(fresh.repo)
    for name, standing in sorted(found.items()):
        if not standing.conflict:
            continue
        told.append(name)
        if daemon:
            continue
        paths = [c.path for c in standing.conflicts]
        shown = ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")
        record_notice(store, EventKind.BASE_CONFLICT,
                      f"{name} now conflicts with {fresh.base_branch} after a landing, in "
                      f"{shown}: bring it up to date with `gitwarden sync {shlex.quote(name)}`",
                      title=f"gitwarden: {name} conflicts with {fresh.base_branch}",
                      agent=name, data={"base": base, **standing.as_json()},
                      dedup=f"base-conflict:{name}:{base}")
    return told
