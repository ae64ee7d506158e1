"""Presence: who works where, on which files, seen from every machine.

Each daemon publishes, per local agent, a record commit under
refs/gitwarden/machines/<machine>/agents/<agent> whose tree is the agent's latest checkpoint
tree and whose parent is the agent's HEAD (so a fetch brings what an in-memory merge needs),
plus refs/gitwarden/machines/<machine>/alive, its heartbeat. Only this machine writes under
its own machine prefix, so its pushes there are forced; nothing else is.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitwarden.remote.records import read_records, write_record
from gitwarden.remote.refs import (
    alive_ref,
    is_safe_name,
    machine_prefix,
    mirror_prefix,
    presence_ref,
    qualified,
    shown,
)
from gitwarden.remote.transport import PushOutcome, RefUpdate, push

STALE_INTERVALS = 3  # a machine without a heartbeat for this many intervals is stale


@dataclass(frozen=True)
class LocalPresence:
    """What this machine tells the others about one of its agents."""

    agent: str
    branch: str | None
    head: str | None
    base: str | None
    checkpoint: str | None
    changed: tuple[str, ...]

    def key(self) -> tuple[object, ...]:
        return (self.branch, self.head, self.base, self.checkpoint, self.changed)


@dataclass(frozen=True)
class RemotePresence:
    """An agent on another machine, as last fetched."""

    machine: str
    agent: str
    commit: str  # the presence record: tree = its checkpoint tree, parent = its HEAD
    branch: str | None
    head: str | None
    base: str | None
    changed: tuple[str, ...]
    heartbeat: float
    checkpoint: str | None = None

    @property
    def name(self) -> str:
        return qualified(self.agent, self.machine)

    def key(self) -> tuple[object, ...]:
        """What a merge prediction depends on (a heartbeat alone changes nothing)."""
        return (self.head, self.checkpoint, self.changed)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "machine": self.machine, "agent": self.agent,
                "branch": self.branch, "head": self.head, "base": self.base,
                "changed": list(self.changed), "heartbeat": self.heartbeat}


@dataclass(frozen=True)
class Machine:
    machine: str
    heartbeat: float
    agents: tuple[RemotePresence, ...] = field(default=())

    def stale(self, now: float, interval: float) -> bool:
        return now - self.heartbeat > STALE_INTERVALS * interval

    def as_json(self, now: float, interval: float) -> dict[str, Any]:
        return {"machine": self.machine, "heartbeat": self.heartbeat,
                "stale": self.stale(now, interval), "agents": [a.as_json() for a in self.agents]}


def publish(cwd: Path, remote: str, machine: str, presences: Sequence[LocalPresence],
            published: Mapping[str, str], *, now: float | None = None,
            unchanged: Collection[str] = ()) -> dict[str, str]:
    """Push the heartbeat and the presence of every agent in `presences` but those named in
    `unchanged` (already on the remote as they are); delete presence refs this machine
    published for agents that are gone. Returns {ref: commit} now on the remote."""
    when = time.time() if now is None else now
    updates = [RefUpdate(alive_ref(machine),
                         write_record(cwd, "alive", {"machine": machine, "heartbeat": when,
                                                     "agents": sorted(p.agent for p in presences)}),
                         None)]
    wanted = set()
    for presence in presences:
        ref = presence_ref(machine, presence.agent)
        wanted.add(ref)
        if presence.agent in unchanged and ref in published:
            continue
        tree = f"{presence.checkpoint}^{{tree}}" if presence.checkpoint else None
        data = {"machine": machine, "agent": presence.agent, "branch": presence.branch,
                "head": presence.head, "base": presence.base, "checkpoint": presence.checkpoint,
                "changed": list(presence.changed), "heartbeat": when}
        commit = write_record(cwd, "presence", data, tree=tree,
                              parents=[presence.head] if presence.head else [])
        updates.append(RefUpdate(ref, commit, None))
    gone = [ref for ref in published
            if ref.startswith(machine_prefix(machine) + "agents/") and ref not in wanted]
    updates += [RefUpdate(ref, None, None) for ref in gone]
    outcome = _force(cwd, remote, updates)
    result = {ref: commit for ref, commit in published.items() if ref not in gone}
    for update in updates:
        if update.ref in outcome.accepted and update.new is not None:
            result[update.ref] = update.new
    return result


def _force(cwd: Path, remote: str, updates: Sequence[RefUpdate]) -> PushOutcome:
    """This machine's own refs need no lease: no other machine writes under its prefix."""
    return push(cwd, remote, updates, owned=True)


def read_machines(cwd: Path, remote: str) -> list[Machine]:
    """Every machine and its agents, as last fetched into the mirror."""
    heartbeats: dict[str, float] = {}
    agents: dict[str, list[RemotePresence]] = {}
    for _ref, commit, kind, data in read_records(cwd, mirror_prefix(remote) + "machines/"):
        machine = str(data.get("machine") or "")
        if not is_safe_name(machine) or \
                (kind == "presence" and not is_safe_name(str(data.get("agent") or ""))):
            continue
        if kind == "alive":
            heartbeats[machine] = float(data.get("heartbeat") or 0.0)
        elif kind == "presence":
            agents.setdefault(machine, []).append(RemotePresence(
                machine=machine, agent=str(data.get("agent")), commit=commit,
                branch=_opt(shown(str(data.get("branch") or ""))), head=_opt(data.get("head")),
                base=_opt(data.get("base")), changed=tuple(_strings(data.get("changed"))),
                heartbeat=float(data.get("heartbeat") or 0.0),
                checkpoint=_opt(data.get("checkpoint"))))
    names = sorted(set(heartbeats) | set(agents))
    return [Machine(name, heartbeats.get(name, max((a.heartbeat for a in agents.get(name, [])),
                                                    default=0.0)),
                    tuple(sorted(agents.get(name, []), key=lambda a: a.agent)))
            for name in names]


def stale_machines(machines: Iterable[Machine], now: float, interval: float) -> set[str]:
    return {m.machine for m in machines if m.stale(now, interval)}


def _opt(value: object) -> str | None:
    return str(value) if value else None


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
