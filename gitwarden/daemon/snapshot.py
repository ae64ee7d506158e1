"""What the daemon answers to `status`: its agents, their changed sets and the overlaps open.

Built by the pipeline thread after each batch and handed over whole, so a reader never sees
half of an update.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import Any

from gitwarden.agents.model import Agent
from gitwarden.daemon.watcher import Watcher
from gitwarden.overlaps.predict import Prediction
from gitwarden.overlaps.tracker import ChangeTracker


def build_snapshot(agents: Mapping[str, Agent], tracker: ChangeTracker,
                   polling: Collection[str], watcher: Watcher,
                   classification: Callable[[str], Prediction | None],
                   last_reconcile: float | None,
                   reconcile_stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "agents": [{"name": name, "path": str(view.path),
                    "changed": len(tracker.changed(name)),
                    "watching": "polling" if name in polling else watcher.kind}
                   for name, view in sorted(agents.items())],
        "overlaps": [{"path": path, "agents": list(o.agents),
                      "classification": getattr(classification(path), "classification", None)}
                     for path, o in sorted(tracker.overlaps.items())],
        "watches": watcher.count,
        "last_reconcile": last_reconcile,
        "reconcile": reconcile_stats,
    }
