"""Retention of the state store: every table that grows with activity, bounded by age and by
a row cap ([retention] in gitwarden.toml), then the file shrunk (incremental vacuum).

Each table module owns its prune function and knows what of its rows a decision still needs
(an open overlap, an open request, the newest verdict of each check, a revert in progress, an
unfinished rollback); this module only gathers the facts that cross tables: which commits a
clean mark or a checkpoint chain still names. When those facts cannot be read (git refuses the
repository), the tables that depend on them are left alone rather than guessed at.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import pygit2

from gitwarden.checkpoints.chain import CHECKPOINT_REF_PREFIX, iter_chain
from gitwarden.checkpoints.journal import prune_journal
from gitwarden.checkpoints.table import clean_marks, prune_checkpoint_records
from gitwarden.config import Config
from gitwarden.coordination.requests import prune_requests
from gitwarden.git.repository import Repo
from gitwarden.health.runner import LOG_DIR
from gitwarden.health.table import log_paths_in_use, prune_health
from gitwarden.overlaps.table import prune_overlaps
from gitwarden.store.activity import prune_activity
from gitwarden.store.db import StateSize, Store, compact, state_size
from gitwarden.store.events import EventKind, prune_events, record_event

log = logging.getLogger("gitwarden.retention")

DAY = 86400.0


@dataclass
class RetentionReport:
    """Rows removed (or that would be, in a dry run) per table, and the file size around it."""

    dry_run: bool
    before: StateSize
    after: StateSize
    removed: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    def as_json(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "removed": dict(self.removed), "total": self.total,
                "skipped": list(self.skipped), "size_before": self.before.as_json(),
                "size_after": self.after.as_json()}


def apply_retention(repo: Repo, config: Config, store: Store, *, now: float | None = None,
                    dry_run: bool = False) -> RetentionReport:
    """Prune every growing table by the [retention] settings; compact the file after."""
    current = time.time() if now is None else now
    settings = config.retention
    cutoff = current - settings.max_age
    report = RetentionReport(dry_run=dry_run, before=state_size(store), after=state_size(store))
    removed = report.removed
    removed["events"] = prune_events(store, older_than=cutoff, max_rows=settings.max_rows,
                                     dry_run=dry_run)
    removed["overlaps"] = prune_overlaps(store, older_than=cutoff, max_rows=settings.max_rows,
                                         dry_run=dry_run)
    removed["requests"] = prune_requests(store, older_than=cutoff, max_rows=settings.max_rows,
                                         dry_run=dry_run)
    # The activity log keeps its own [watch] settings (activity_retention, activity_max_rows).
    removed["activity"] = prune_activity(
        store, older_than=current - config.watch.activity_retention,
        max_rows=config.watch.activity_max_rows, dry_run=dry_run)
    marks = clean_marks(store)
    keep_commits = {mark.commit for mark in marks} | {m.head for m in marks if m.head}
    # Reverts and actions cap reverts per day and stop a culprit from being acted on twice:
    # never shorter than the revert window and one day, whatever max_age says.
    reverts_before = current - max(settings.max_age, config.health.revert_max_age, DAY)
    removed.update(prune_health(store, older_than=cutoff, max_rows=settings.max_rows,
                                keep_commits=keep_commits, reverts_before=reverts_before,
                                dry_run=dry_run))
    # A log being written has no row yet and may be quiet for as long as its check may run.
    longest = max([config.health.timeout,
                   *(c.timeout for c in config.health.checks if c.timeout is not None)])
    removed["health_logs"] = _prune_health_logs(repo, store, min(cutoff, current - longest),
                                                dry_run=dry_run)
    live = _checkpoint_commits(repo)
    if live is None:
        report.skipped.append("clean_marks")
        removed.update(prune_checkpoint_records(
            store, marks_before=0.0, rollbacks_before=current - settings.undo_window,
            max_rows=None, live_commits=(), dry_run=dry_run))
    else:
        marks_before = current - max(settings.max_age, config.checkpoints.keep_clean_days * DAY)
        removed.update(prune_checkpoint_records(
            store, marks_before=marks_before, rollbacks_before=current - settings.undo_window,
            max_rows=settings.max_rows, live_commits=live, dry_run=dry_run))
    removed["journal"] = prune_journal(store, before=current - settings.undo_window,
                                       dry_run=dry_run)
    if not dry_run:
        compact(store)
        report.after = state_size(store)
        if report.total:
            log.info("retention removed %d row(s): %s", report.total,
                     ", ".join(f"{k} {v}" for k, v in removed.items() if v))
            record_event(store, EventKind.STATE_PRUNED,
                         f"retention removed {report.total} old row(s) from the state store",
                         data=report.as_json())
    return report


def _prune_health_logs(repo: Repo, store: Store, older_than: float, *, dry_run: bool) -> int:
    """Health check logs older than `older_than` that no remaining run or verdict names."""
    log_dir = repo.state_dir / LOG_DIR
    try:
        entries = list(os.scandir(log_dir))
    except FileNotFoundError:
        return 0
    in_use = {os.path.realpath(path) for path in log_paths_in_use(store)}
    removed = 0
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False) or \
                    entry.stat(follow_symlinks=False).st_mtime >= older_than or \
                    os.path.realpath(entry.path) in in_use:
                continue
            if not dry_run:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
        removed += 1
    return removed


def _checkpoint_commits(repo: Repo) -> set[str] | None:
    """Every checkpoint id (current and original) in every chain; None when unreadable."""
    try:
        git = pygit2.Repository(str(repo.common_dir))
        names = [name for name in git.references if name.startswith(CHECKPOINT_REF_PREFIX)]
        found: set[str] = set()
        for name in names:
            tip = git.get(git.references[name].target)
            if not isinstance(tip, pygit2.Commit):
                continue
            for info in iter_chain(git, tip):
                found.add(info.commit)
                found.add(info.original)
        return found
    except (pygit2.GitError, KeyError, ValueError) as exc:
        log.warning("cannot read the checkpoint chains, clean marks kept: %s", exc)
        return None
