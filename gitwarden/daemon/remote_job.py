"""The daemon's side of [remote]: every interval (and soon after a local change) publish each
local agent's presence with its latest checkpoint tree, fetch the other machines', hand their
agents to the pipeline for overlaps and merge predictions, and keep the lock cache fresh.

Runs on a scheduler thread; the pipeline is reached only through its queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.take import take_checkpoint
from gitwarden.config import Config
from gitwarden.daemon.pipeline import Pipeline
from gitwarden.errors import GitwardenError
from gitwarden.remote.presence import LocalPresence
from gitwarden.remote.sync import RemoteSync, SyncReport
from gitwarden.store.db import Store

log = logging.getLogger("gitwarden.remote")


class RemoteJob:
    def __init__(self, workspace: Callable[[], Workspace], config: Callable[[], Config],
                 pipeline: Pipeline) -> None:
        self._workspace = workspace
        self._config = config
        self._pipeline = pipeline
        self._sync: RemoteSync | None = None
        self._checkpoints: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        self.last_report: SyncReport | None = None

    def poke(self) -> None:
        """A local changed set or HEAD changed: exchange soon (debounced), not only at the
        next interval."""
        config = self._config().remote
        if config is None or self._closed:
            return
        with self._lock:
            if self._timer is not None and self._timer.is_alive():
                return
            self._timer = threading.Timer(min(1.0, config.interval / 2), self.run_logged)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def run_logged(self) -> None:
        try:
            self.run()
        except Exception:
            log.exception("remote exchange failed")

    def run(self) -> None:
        config = self._config().remote
        if config is None:
            return
        with self._running:  # the periodic run and a change-triggered run never overlap
            workspace = self._workspace()
            if self._sync is None or self._sync.config != config:
                self._sync = RemoteSync(workspace.repo.main_worktree, config)
            presences = self._presences(workspace)
            started = time.monotonic()
            with Store.open(workspace.repo) as store:
                report = self._sync.exchange(store, presences)
            self.last_report = report
            self._pipeline.post("remote", {
                "agents": report.live_agents(),
                "machines": [m.as_json(time.time(), config.interval) for m in report.machines],
                "reachable": report.reachable, "error": report.error,
                "machine": self._sync.machine})
            log.debug("remote exchange in %.0f ms (pushed: %s, reachable: %s)",
                      (time.monotonic() - started) * 1000, report.pushed, report.reachable)

    def _presences(self, workspace: Workspace) -> list[LocalPresence]:
        answer: dict[str, Any] = self._pipeline.call("presence", timeout=60) or {}
        base = answer.get("base")
        result = []
        for name, entry in sorted(answer.get("agents", {}).items()):
            # Every exchange snapshots agents with changes: an edit that keeps the changed set
            # (a second edit of the same file) must reach the other machines' predictions too.
            # An unchanged worktree costs one status scan ("unchanged", no new commit).
            changed = tuple(entry["changed"])
            checkpoint = self._checkpoints.get(name)
            if changed or checkpoint is None:
                try:
                    checkpoint = take_checkpoint(workspace, name).commit
                except (GitwardenError, OSError) as exc:
                    log.warning("no checkpoint of %s to share: %s", name, exc)
                self._checkpoints[name] = checkpoint
            result.append(LocalPresence(agent=name, branch=entry["branch"], head=entry["head"],
                                        base=base, checkpoint=checkpoint, changed=changed))
        return result
