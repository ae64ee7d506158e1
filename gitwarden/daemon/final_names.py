"""What the watcher attributes to an agent: files under their final name, never gitwarden's.

Editors and tools write through temp files: `sed -i` writes `dir/sedXXXXXX` and renames it
over the file. Such a temp file is never the agent's change: a path git no longer shows
(renamed or deleted) is not checked, and a file just created is checked again one debounce
later, once a rename that follows it in the next batch has been seen. gitwarden's own writes
(rollback, undo, revert) are journaled by their writers and dropped before anything else.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from gitwarden.agents.workspace import Workspace
from gitwarden.daemon import gitscan
from gitwarden.daemon.jobs import Jobs
from gitwarden.errors import GitwardenError
from gitwarden.store.db import Store
from gitwarden.store.write_journal import recent_own_writes

log = logging.getLogger(__name__)


class _Pipeline(Protocol):
    workspace: Workspace
    jobs: Jobs

    def post(self, name: str, arg: Any = None) -> object: ...

    def _store(self) -> Store: ...


class FinalNames:
    """Called on the pipeline thread; rechecks come back to it as `recheck` commands."""

    def __init__(self, pipeline: _Pipeline) -> None:
        self.pipeline = pipeline
        self.fresh: dict[str, set[str]] = {}

    def not_ours(self, root: str, files: dict[str, str], now: float) -> dict[str, str]:
        """`files` (path -> action) without the ones gitwarden itself just wrote."""
        own = recent_own_writes(self.pipeline.workspace.repo.state_dir, now)
        return {path: action for path, action in files.items() if not own.covers(root, path)}

    def settle(self, name: str, root: str, relevant: set[str], created: set[str],
               present: set[str]) -> None:
        """Check the settled paths among `relevant` now; hold back the ones just created."""
        fresh = {p for p in relevant & created if os.path.lexists(os.path.join(root, p))}
        settled = {p for p in relevant - fresh if p in present}
        if settled:
            self._check(name, sorted(settled))
        if fresh:
            self.fresh.setdefault(name, set()).update(fresh)
            delay = max(self.pipeline.workspace.config.watch.debounce, 0.05) * 2
            timer = threading.Timer(delay, self.pipeline.post, args=("recheck", name))
            timer.daemon = True
            timer.start()

    def recheck(self, name: str, worktree: Path) -> None:
        paths = self.fresh.pop(name, set())
        existing = [p for p in paths if os.path.lexists(os.path.join(worktree, p))]
        if not existing:
            return
        try:
            present = gitscan.dirty_paths(worktree, existing)
        except GitwardenError as exc:
            log.warning("cannot read the status of %s: %s", name, exc)
            return
        settled = sorted(p for p in existing if p in present)
        if settled:
            self._check(name, settled)

    def _check(self, name: str, paths: list[str]) -> None:
        pipeline = self.pipeline
        pipeline.jobs.check_paths(pipeline.workspace, pipeline._store(), name, paths)
