"""Agents added as `gitwarden agent add NAME --scope SCOPE` adds them and paused as
`gitwarden pause NAME` pauses them, in the test's process.

For fixtures that set up several agents per test: the same calls the commands make, without a
Python start per agent. The commands themselves (their output, refusals and user-only guard)
run as real processes in tests/admin/test_agents.py and tests/coordination/test_pausing.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitwarden.admin.agents import add_agent, install_agent_hooks
from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pausing import apply_pause
from gitwarden.store.db import Store
from gitwarden.views.context_refresh import refresh_context_files


def add_scoped_agents(main: Path, scopes: Mapping[str, str]) -> dict[str, Path]:
    """Add one agent per name with its scope, at its default path (`<main>-agents/NAME`) on
    its default branch; their worktrees, spelled from `main` as given."""
    workspace = Workspace.load(main)
    for name, scope in scopes.items():
        agent = add_agent(workspace, name, scope=[scope], start=None, path=None, branch=None,
                          task=None, policy=None)
        install_agent_hooks(workspace, agent)
    return {name: main.parent / f"{main.name}-agents" / name for name in scopes}


def pause_by_the_user(main: Path, name: str) -> None:
    """Pause `name` with the reason and author `gitwarden pause NAME` gives."""
    workspace = Workspace.load(main)
    with Store.open(workspace.repo) as store:
        apply_pause(workspace, store, name, "paused by the user", by="user")
        refresh_context_files(workspace, store)
