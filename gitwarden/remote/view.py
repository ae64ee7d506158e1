"""What `status` shows of the other machines: their agents (marked `agent@machine`), their
changed sets, whether each machine is stale, and whether the remote answered lately; read
from the last fetch and the state store, without talking to the network."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gitwarden.config import RemoteConfig
from gitwarden.errors import GitwardenError
from gitwarden.remote import state
from gitwarden.remote.presence import read_machines
from gitwarden.remote.refs import machine_id
from gitwarden.store.db import Store


def remote_report(repo_dir: Path, store: Store | None, config: RemoteConfig) -> dict[str, Any]:
    """{remote, machine, state, machines: [...], changed: {agent@machine: [paths]}}; stale
    machines are listed (marked) but their changed sets are left out of overlaps."""
    me = machine_id(config.machine)
    now = time.time()
    try:
        machines = [m for m in read_machines(repo_dir, config.name) if m.machine != me]
    except GitwardenError:
        machines = []
    known = state.status(store, config.name) if store is not None else \
        state.RemoteStatus(config.name, None, None, None)
    changed = {agent.name: list(agent.changed) for m in machines
               if not m.stale(now, config.interval) for agent in m.agents}
    return {"remote": config.name, "machine": me, "interval": config.interval,
            "state": known.describe(), "reachable": known.reachable, "last_ok": known.last_ok,
            "machines": [m.as_json(now, config.interval) for m in machines],
            "changed": changed}


def render_machines(report: dict[str, Any]) -> list[str]:
    """Text lines for `status`: one per other machine, then its agents."""
    lines = [f"remote {report['remote']} as machine {report['machine']}: {report['state']}"]
    now = time.time()
    for machine in report["machines"]:
        ago = now - machine["heartbeat"]
        mark = "STALE, locks ignored" if machine["stale"] else "live"
        lines.append(f"  machine {machine['machine']} ({mark}; heartbeat {ago:.0f}s ago): "
                     f"{len(machine['agents'])} agent(s)")
        for agent in machine["agents"]:
            lines.append(f"    {agent['name']}  {agent['branch'] or '(detached)'}  "
                         f"{(agent['head'] or '')[:10]}  {len(agent['changed'])} changed")
    return lines
