"""Violations are judged on files under their final name.

Editors and tools write through temp files: `sed -i` writes `dir/sedXXXXXX` and renames it
over the file. Such a temp file is never the agent's change: a path git no longer shows
(renamed or deleted) is not checked, and a file just created is checked again one debounce
later, once a rename that follows it in the next batch has been seen.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from gitwarden.daemon import gitscan
from gitwarden.errors import GitwardenError

log = logging.getLogger(__name__)


class FinalNames:
    """Called on the pipeline thread; `post_recheck(agent)` queues `recheck` on it."""

    def __init__(self, post_recheck: Callable[[str], object],
                 check: Callable[[str, list[str]], None],
                 debounce: Callable[[], float]) -> None:
        self.post_recheck = post_recheck
        self.check = check
        self.debounce = debounce
        self.fresh: dict[str, set[str]] = {}

    def settle(self, name: str, root: str, relevant: set[str], created: set[str],
               present: set[str]) -> None:
        """Check the settled paths among `relevant` now; hold back the ones just created."""
        fresh = {p for p in relevant & created if os.path.lexists(os.path.join(root, p))}
        settled = {p for p in relevant - fresh if p in present}
        if settled:
            self.check(name, sorted(settled))
        if fresh:
            self.fresh.setdefault(name, set()).update(fresh)
            timer = threading.Timer(max(self.debounce(), 0.05) * 2, self.post_recheck,
                                    args=(name,))
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
            self.check(name, settled)
