"""Agents added as `gitwarden agent add NAME --scope SCOPE` adds them, in the test's process.

For fixtures that set up several agents per test: the same `add_agent` and
`install_agent_hooks` calls the command makes, without a Python start per agent. The command
itself (its output, refusals and user-only guard) runs as a real process in
tests/admin/test_agents.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitwarden.admin.agents import add_agent, install_agent_hooks
from gitwarden.agents.workspace import Workspace


def add_scoped_agents(main: Path, scopes: Mapping[str, str]) -> dict[str, Path]:
    """Add one agent per name with its scope, at its default path (`<main>-agents/NAME`) on
    its default branch; their worktrees, spelled from `main` as given."""
    workspace = Workspace.load(main)
    for name, scope in scopes.items():
        agent = add_agent(workspace, name, scope=[scope], start=None, path=None, branch=None,
                          task=None, policy=None)
        install_agent_hooks(workspace, agent)
    return {name: main.parent / f"{main.name}-agents" / name for name in scopes}
