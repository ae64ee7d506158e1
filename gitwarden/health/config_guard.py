"""Health commands come only from the main worktree's gitwarden.toml: an agent's commit that edits
the [health] table is reported, never run."""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING, Any

from gitwarden.git.repository import CONFIG_FILE_NAME
from gitwarden.git.runner import run_git
from gitwarden.health.policy import (
    notify,
)
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace


def report_health_config_edit(workspace: Workspace, store: Store, agent: Agent,
                              old_head: str | None, new_head: str) -> bool:
    """Report (event + notification) when a commit changes gitwarden.toml's [health]."""
    cwd = workspace.repo.main_worktree
    before = old_head
    if before is None:
        proc = run_git(["merge-base", workspace.base_branch, new_head], cwd, check=False)
        before = proc.stdout.decode().strip() or None
    old = _health_table(cwd, before) if before else None
    new = _health_table(cwd, new_head)
    if old == new:
        return False

    notify(store, EventKind.HEALTH_CONFIG_EDITED,
           f"gitwarden: {agent.name} edited the health checks",
           f"commit {new_head[:10]} on {agent.branch or 'a detached HEAD'} changes [health] in "
           f"{CONFIG_FILE_NAME}; gitwarden keeps using the main worktree's checks",
           agent=agent.name, severity="warning", data={"commit": new_head},
           )
    return True


def _health_table(cwd: Any, commit: str) -> Any:
    proc = run_git(["cat-file", "blob", f"{commit}:{CONFIG_FILE_NAME}"], cwd, check=False)
    if proc.returncode != 0:
        return None
    try:
        return tomllib.loads(proc.stdout.decode("utf-8", "replace")).get("health")
    except tomllib.TOMLDecodeError:
        return "<invalid TOML>"
