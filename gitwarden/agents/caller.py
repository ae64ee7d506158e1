"""Who is calling a command: the user, or an agent, and which.

Identity comes from where the call runs: the agent whose worktree holds the current
directory (symbolic links resolved; `-C DIR` changes directory first, so it counts as running
in DIR). `GITWARDEN_AGENT` or `--agent` may name the agent when the call runs outside every
agent worktree (a narrowing: from the user to one agent), never change it: a claim that differs
from the place is refused and logged. The user is a call with no agent at all; user-only
commands are refused from an agent's context with a message that says to ask the user.
"""

from __future__ import annotations

from pathlib import Path

from gitwarden.agents.identity import AGENT_ENV, agent_from_env, call_environ
from gitwarden.agents.model import Agent, agent_for_path
from gitwarden.agents.workspace import Workspace
from gitwarden.errors import NotAllowed, UsageError
from gitwarden.output import for_terminal
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event

# Set by Claude Code in the shells its Bash tool runs: a call made by an agent's tool.
AGENT_TOOL_ENVS = ("CLAUDECODE",)


def place_agent(workspace: Workspace, cwd: Path | None = None) -> Agent | None:
    """The agent whose worktree holds `cwd` (default: the current directory)."""
    return agent_for_path(workspace.agents, (cwd or Path.cwd()))


def current_agent(workspace: Workspace, explicit: str | None = None,
                  cwd: Path | None = None) -> Agent | None:
    """The agent of the place; else the one `--agent` or GITWARDEN_AGENT names; else None
    (the user). A claim that differs from the place raises NotAllowed (and is logged)."""
    place = place_agent(workspace, cwd)
    claim = explicit or agent_from_env()
    if place is not None:
        if claim and claim != place.name:
            how = "--agent" if explicit else AGENT_ENV
            _log(workspace, EventKind.IDENTITY_REFUSED,
                 f"refused a call from agent {place.name}'s worktree claiming to be "
                 f"{for_terminal(claim)} ({how})", place.name, {"claimed": claim})
            raise NotAllowed(f"this runs in the worktree of agent {place.name}, which acts "
                             f"only as itself: {how} {for_terminal(claim)} is refused (and "
                             "logged)")
        return place
    if claim:
        return workspace.agent(claim)
    return None


def require_agent(workspace: Workspace, explicit: str | None = None,
                  cwd: Path | None = None, *, how: str = "pass --agent NAME") -> Agent:
    """The current agent, or a UsageError ending with `how` to name it on the command line."""
    agent = current_agent(workspace, explicit, cwd)
    if agent is None:
        raise UsageError("cannot tell which agent you are: run inside an agent's worktree, "
                         f"set GITWARDEN_AGENT, or {how}")
    return agent


def agent_context(workspace: Workspace, cwd: Path | None = None) -> str | None:
    """The agent a call comes from (its worktree, GITWARDEN_AGENT), or None for the user."""
    place = place_agent(workspace, cwd)
    if place is not None:
        return place.name
    claim = agent_from_env()
    if claim:
        return claim
    return None


def require_user(workspace: Workspace, what: str, cwd: Path | None = None) -> None:
    """Refuse (and log) a user-only command called from an agent's context."""
    agent = agent_context(workspace, cwd)
    if agent is None:
        return
    _log(workspace, EventKind.USER_ONLY_REFUSED,
         f"refused `{what}` from agent {for_terminal(agent)}'s context", agent,
         {"command": what})
    raise NotAllowed(f"`{what}` is for the user, and this runs as agent {for_terminal(agent)} "
                     "(its worktree or GITWARDEN_AGENT): ask the user to run it from a shell "
                     "outside the agent worktrees")


def in_agent_tool() -> bool:
    """Whether the environment says an agent tool (e.g. Claude Code's Bash) runs this."""
    env = call_environ()
    return any(env.get(name) for name in (AGENT_ENV, *AGENT_TOOL_ENVS))


def _log(workspace: Workspace, kind: EventKind, message: str, agent: str,
         data: dict[str, object]) -> None:
    try:
        with Store.open(workspace.repo) as store:
            record_event(store, kind, message, agent=agent, severity="warning", data=data)
    except Exception:  # the refusal itself matters more than its log line
        pass
