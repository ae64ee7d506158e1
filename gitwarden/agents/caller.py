"""Which agent a command acts for: `--agent`, else `GITWARDEN_AGENT`, else the agent whose
worktree contains the working directory."""

from __future__ import annotations

from pathlib import Path

from gitwarden.agents.identity import agent_from_env
from gitwarden.agents.model import Agent, agent_for_path
from gitwarden.agents.workspace import Workspace
from gitwarden.errors import UsageError


def current_agent(workspace: Workspace, explicit: str | None = None,
                  cwd: Path | None = None) -> Agent | None:
    """--agent, else GITWARDEN_AGENT, else the agent whose worktree contains `cwd`."""
    name = explicit or agent_from_env()
    if name:
        return workspace.agent(name)
    return agent_for_path(workspace.agents, (cwd or Path.cwd()).resolve())


def require_agent(workspace: Workspace, explicit: str | None = None,
                  cwd: Path | None = None, *, how: str = "pass --agent NAME") -> Agent:
    """The current agent, or a UsageError ending with `how` to name it on the command line."""
    agent = current_agent(workspace, explicit, cwd)
    if agent is None:
        raise UsageError("cannot tell which agent you are: run inside an agent's worktree, "
                         f"set GITWARDEN_AGENT, or {how}")
    return agent
