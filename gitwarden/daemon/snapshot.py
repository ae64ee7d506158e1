"""What the daemon answers to `status`: its agents, their changed sets and standing against the
base, the overlaps open, and other machines' agents.

Built by the pipeline thread after each batch and handed over whole, so a reader never sees
half of an update.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any

from gitwarden.agents.model import Agent
from gitwarden.daemon.remote_agents import RemoteAgents
from gitwarden.daemon.watcher import Watcher
from gitwarden.overlaps.base_recorder import BaseRecorder
from gitwarden.overlaps.recorder import OverlapRecorder
from gitwarden.overlaps.tracker import ChangeTracker


def build_snapshot(agents: Mapping[str, Agent], tracker: ChangeTracker,
                   polling: Collection[str], watcher: Watcher,
                   overlaps: OverlapRecorder | None, base: BaseRecorder | None,
                   remote: RemoteAgents, last_reconcile: float | None,
                   reconcile_stats: dict[str, Any]) -> dict[str, Any]:
    classified = overlaps.classification if overlaps is not None else {}
    return {
        "pid": os.getpid(),
        "agents": [{"name": name, "path": str(view.path),
                    "changed": len(tracker.changed(name)),
                    "base": base.json_of(name) if base is not None else None,
                    "watching": "polling" if name in polling else watcher.kind}
                   for name, view in sorted(agents.items())],
        "overlaps": [{"path": path, "agents": list(o.agents),
                      "classification": getattr(classified.get(path), "classification", None)}
                     for path, o in sorted(tracker.overlaps.items())],
        "remote_agents": remote.snapshot(tracker),
        "remote": remote.info,
        "watches": watcher.count,
        "last_reconcile": last_reconcile,
        "reconcile": reconcile_stats,
    }
