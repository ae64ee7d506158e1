"""Agents of other machines ([remote]) inside the pipeline: in the change tracker and the
merge predictions like local ones, named `agent@machine`, with their presence commit as HEAD
(its tree is their latest checkpoint, its parent their HEAD). Owned by the pipeline thread."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.config import AgentConfig
from gitwarden.errors import GitwardenError
from gitwarden.overlaps.tracker import ChangeTracker
from gitwarden.remote import state as remote_state
from gitwarden.remote.presence import read_machines
from gitwarden.remote.refs import machine_id
from gitwarden.store.db import Store

_NOWHERE = Path("/nonexistent/gitwarden-remote")


class RemoteAgents:
    def __init__(self) -> None:
        self.agents: dict[str, Agent] = {}
        self.info: dict[str, Any] = {}
        self._keys: dict[str, tuple[object, ...]] = {}

    def apply(self, update: dict[str, Any], tracker: ChangeTracker, now: float) -> bool:
        """Adopt the other machines' agents from one exchange; True when any changed what
        merge predictions depend on (their overlaps are then predicted again)."""
        self.info = {key: value for key, value in update.items() if key != "agents"}
        fresh = {presence.name: presence for presence in update.get("agents", [])}
        changed = False
        for name in set(self.agents) - set(fresh):
            del self.agents[name]
            self._keys.pop(name, None)
            tracker.remove_agent(name)
            changed = True
        for name, presence in fresh.items():
            if self._keys.get(name) == presence.key():
                continue  # a heartbeat: nothing a prediction depends on changed
            self._keys[name] = presence.key()
            self.agents[name] = remote_agent(name, presence.branch, presence.commit)
            tracker.set_committed(name, presence.changed, now)
            tracker.set_dirty(name, (), now)
            changed = True
        return changed

    def seed(self, workspace: Workspace, store: Store, tracker: ChangeTracker,
             now: float) -> None:
        """At start, adopt the other machines' agents as last fetched (no network call), so
        that overlaps with them restored from the store are not resolved and announced again
        before the first exchange. Staleness is judged as of that fetch."""
        config = workspace.config.remote
        if config is None:
            return
        me = machine_id(config.machine)
        fetched = remote_state.status(store, config.name).last_ok
        try:
            machines = read_machines(workspace.repo.main_worktree, config.name)
        except GitwardenError:
            return
        if fetched is None:
            return
        self.apply({"agents": [agent for m in machines if m.machine != me
                               and not m.stale(fetched, config.interval)
                               for agent in m.agents]}, tracker, now)

    def snapshot(self, tracker: ChangeTracker) -> list[dict[str, Any]]:
        return [{"name": name, "branch": view.branch, "head": view.head,
                 "changed": len(tracker.changed(name))}
                for name, view in sorted(self.agents.items())]


def remote_agent(name: str, branch: str | None, commit: str) -> Agent:
    """No worktree here: merge predictions read its files from the presence commit."""
    return Agent(name=name, path=_NOWHERE / name, branch=branch, head=commit,
                 git_dir=_NOWHERE, is_main=False, settings=AgentConfig(name=name))


def local_presence(base: str | None, agents: Mapping[str, Agent],
                   tracker: ChangeTracker) -> dict[str, Any]:
    """What the remote exchange publishes about the local agents."""
    return {"base": base, "agents": {
        name: {"branch": view.branch, "head": view.head,
               "changed": sorted(tracker.changed(name))} for name, view in agents.items()}}
