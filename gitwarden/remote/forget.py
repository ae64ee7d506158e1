"""Forgetting a machine that will not come back: its presence, heartbeat and locks leave the
shared remote. Only a stale machine is forgotten (unless forced), and every ref is deleted
leased on the commit last fetched, so a machine that came back meanwhile keeps its refs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from gitwarden.config import RemoteConfig
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.remote.claims import remote_locks
from gitwarden.remote.presence import read_machines
from gitwarden.remote.refs import machine_id, machine_prefix
from gitwarden.remote.transport import RefUpdate, fetch, mirrored_refs, push


@dataclass(frozen=True)
class Forgotten:
    machine: str
    refs: list[str]
    kept: list[str]  # refs that changed since the fetch: the machine is alive after all


def forget_machine(cwd: Path, config: RemoteConfig, machine: str, *,
                   force: bool = False) -> Forgotten:
    if machine == machine_id(config.machine):
        raise UsageError(f"{machine} is this machine; remove [remote] from gitwarden.toml to "
                         "stop sharing")
    fetch(cwd, config.name)
    known = {m.machine: m for m in read_machines(cwd, config.name)}
    found = known.get(machine)
    if found is None:
        raise UsageError(f"no machine {machine!r} on remote {config.name}; known: "
                         f"{', '.join(sorted(known)) or 'none'}")
    if not force and not found.stale(time.time(), config.interval):
        raise GitwardenError(f"machine {machine} sent a heartbeat "
                             f"{time.time() - found.heartbeat:.0f}s ago: it is alive; "
                             "use --force to forget it anyway")
    doomed = dict(mirrored_refs(cwd, config.name, machine_prefix(machine)))
    doomed.update({lock.ref: lock.commit for lock in remote_locks(cwd, config.name)
                   if lock.machine == machine})
    outcome = push(cwd, config.name, [RefUpdate(ref, None, commit)
                                      for ref, commit in sorted(doomed.items())])
    return Forgotten(machine, sorted(outcome.accepted), sorted(outcome.rejected))
