"""A tidy object store: what gitwarden writes (checkpoints, index backups, reverts) ends up in
packs instead of thousands of loose files that push every agent commit into `git gc --auto`.

The work itself is git's (see gitwarden.git.repack: nothing is ever deleted that is not in a
pack); this module decides when, and records what happened.
"""

from __future__ import annotations

import logging

from gitwarden.config import Config
from gitwarden.git.quarantine import sweep_stale
from gitwarden.git.repack import RepackResult, repack_incremental
from gitwarden.git.repository import Repo
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event

log = logging.getLogger("gitwarden.objects")


def tidy_objects(repo: Repo, config: Config, store: Store | None = None, *,
                 force: bool = False, dry_run: bool = False) -> RepackResult:
    """Repack incrementally when [retention] repack_loose_objects are loose (any, with
    `force`); the result is logged and, when something was packed, recorded as an event."""
    state_dir = repo.ensure_state_dir()
    if not dry_run and (swept := sweep_stale(repo.common_dir)):
        log.info("removed %d quarantine director(ies) of processes that no longer run", swept)
    threshold = 1 if force else config.retention.repack_loose_objects
    result = repack_incremental(repo.common_dir, state_dir, min_loose=threshold,
                                dry_run=dry_run)
    if result.status == "repacked" and result.after is not None:
        message = (f"packed {result.before.loose} loose object(s); "
                   f"{result.after.loose} loose, {result.after.packs} pack(s) now")
        log.info("%s", message)
        if store is not None:
            record_event(store, EventKind.OBJECTS_REPACKED, message, data=result.as_json())
    elif result.status == "busy":
        log.debug("repack skipped: %s", result.reason)
    return result
