"""Pausing and resuming agents (with SIGSTOP/SIGCONT of their registered processes) and the
kill switch. Callers refresh the context files afterwards."""

from __future__ import annotations

import os
import signal

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination import pauses
from gitwarden.coordination.processes import signal_group
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event, record_notice


def apply_pause(workspace: Workspace, store: Store, agent_name: str, reason: str,
                by: str) -> None:
    """Pause an agent: hooks deny its edits and commits, its registered processes stop."""
    newly = pauses.pause_agents(store, [agent_name], reason, by)
    stopped = _signal_processes(store, [agent_name], signal.SIGSTOP)
    if newly:
        message = f"paused agent {agent_name}: {reason} (by {by})"
        record_notice(store, EventKind.AGENT_PAUSED, message,
                      title=f"gitwarden: paused {agent_name}", agent=agent_name,
                      data={"reason": reason, "by": by, "stopped_processes": stopped})


def apply_resume(workspace: Workspace, store: Store, agent_name: str,
                 by: str = "user") -> bool:
    """Resume one agent; returns whether it was paused."""
    was = pauses.resume_agent(store, agent_name)
    continued = _signal_processes(store, [agent_name], signal.SIGCONT)
    if was:
        record_event(store, EventKind.AGENT_RESUMED, f"resumed agent {agent_name} (by {by})",
                     agent=agent_name, data={"by": by, "continued_processes": continued})
    return was


def apply_stop(workspace: Workspace, store: Store, reason: str, by: str = "user") -> list[str]:
    """The kill switch: pause every agent at once. Returns the names paused."""
    names = [agent.name for agent in workspace.agents]
    pauses.engage_kill_switch(store, names, reason, by)
    stopped = _signal_processes(store, None, signal.SIGSTOP)
    message = f"kill switch: paused all {len(names)} agents: {reason}"
    record_notice(store, EventKind.KILLSWITCH_ENGAGED, message,
                  title="gitwarden: all agents stopped", severity="error",
                  data={"agents": names, "reason": reason, "by": by,
                        "stopped_processes": stopped})
    return names


def apply_resume_all(workspace: Workspace, store: Store, by: str = "user") -> list[str]:
    """Lift every pause and the kill switch. Returns the agents that were paused."""
    names = pauses.resume_all(store)
    continued = _signal_processes(store, None, signal.SIGCONT)
    record_event(store, EventKind.AGENT_RESUMED_ALL,
                 f"resumed all agents ({len(names)} were paused)",
                 data={"agents": names, "by": by, "continued_processes": continued})
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
