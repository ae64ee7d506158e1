"""The daemon's jobs: calls into checkpoints, health and coordination, run off the pipeline
thread on a small pool. A job that fails is logged without taking the daemon down."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import pygit2

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.chain import checkpoint_ref
from gitwarden.checkpoints.take import CheckpointResult, take_checkpoint
from gitwarden.config import Config
from gitwarden.coordination import locks, pauses
from gitwarden.coordination.pausing import apply_pause
from gitwarden.coordination.violations import check_paths
from gitwarden.daemon.pending import PendingPaths
from gitwarden.errors import GitwardenError
from gitwarden.git.repository import Repo
from gitwarden.git.worktrees import operation_in_progress
from gitwarden.health import runner as health_runner
from gitwarden.health import service as health_service
from gitwarden.health import table as health_table
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event, record_notice
from gitwarden.upkeep.objects import tidy_objects
from gitwarden.views.context_refresh import refresh_context_files

log = logging.getLogger("gitwarden.jobs")


@dataclass(frozen=True)
class _HealthDue:
    """The HEAD an agent's next health job checks (old_head: before the burst)."""

    old_head: str | None
    new_head: str
    catch_up: bool

HEALTH_KILL_GRACE = 1.0
# Bounds on what the daemon remembers, so that its memory plateaus over months: the oldest
# entries go first (a forgotten violation may be reported once more; a forgotten head is
# looked up in the store by catch_up_health).
MAX_REPORTED = 10_000
MAX_HEALTH_HEADS = 1_000


class Jobs:
    """The daemon's calls into checkpoints, health and coordination."""

    def __init__(self, repo: Repo, config: Callable[[], Config],
                 pending: PendingPaths) -> None:
        self.repo = repo
        self._config = config
        self._pending = pending
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gitwarden-worker")
        self._local = threading.local()
        self._full_due: set[str] = set()
        self._lock = threading.Lock()
        # One checkpoint of an agent at a time (the timer's, a full one due, the CLI's): one
        # that claimed the pending paths is in the chain before the next one reads its tip.
        self._agent_locks: dict[str, threading.Lock] = {}
        # The chain tip each agent's last checkpoint of the daemon left. A tip another writer
        # made (a CLI, a safety checkpoint) may hold a file as read before a change whose path
        # the daemon has claimed since: its next checkpoint scans in full.
        self._own_tips: dict[str, str] = {}
        self._reported: dict[tuple[str, str, str], None] = {}  # insertion-ordered set
        self._context_due = False
        self._tidy_due = False
        self._futures: set[Future[None]] = set()
        # (agent, head) checked or queued, insertion-ordered
        self._health_heads: dict[tuple[str, str], None] = {}
        # Health checks coalesce per agent: one job per agent at a time, and it checks the
        # newest HEAD seen (a burst of commits, an amend right after a commit: one check).
        self._health_due: dict[str, _HealthDue] = {}
        self._health_active: set[str] = set()  # agents with a health job queued or running
        # The status report the context files are rendered from, as the daemon holds it in
        # memory (set by the pipeline); None: read it from git.
        self.context_source: Callable[[], dict[str, Any] | None] = lambda: None

    def close(self, timeout: float = 5.0) -> bool:
        """Stop taking work; False when some work (e.g. a health check) is still running."""
        with self._lock:
            running = list(self._futures)
        self._pool.shutdown(wait=False, cancel_futures=True)
        _, not_done = wait(running, timeout=timeout)
        if any(not f.cancelled() for f in not_done) and self._kill_health_checks():
            _, not_done = wait(not_done, timeout=HEALTH_KILL_GRACE + 2)
        unfinished = [f for f in not_done if not f.cancelled()]
        if unfinished:
            log.warning("%d background task(s) still running at shutdown; abandoning them",
                        len(unfinished))
        return not unfinished

    def _kill_health_checks(self) -> int:
        """Kill the process groups of running health checks: abandoned work must not leave
        children behind."""
        killed = health_runner.terminate_all(grace=HEALTH_KILL_GRACE)
        if killed:
            log.warning("killed %d running health check(s) at shutdown", killed)
        return killed

    # --- called on the pipeline thread (must not block) --------------------------------------

    def check_paths(self, workspace: Workspace, store: Store, agent: str,
                    paths: Sequence[str]) -> None:
        """Record each new scope or lock violation among `paths` (once per agent and path)."""
        try:
            violations = check_paths(workspace, store, agent, list(paths))
        except Exception:
            log.exception("coordination check of %s failed", agent)
            return
        for violation in violations:
            key = (violation.agent, violation.path, violation.kind)
            if key in self._reported:
                continue
            _remember(self._reported, key, MAX_REPORTED)
            log.debug("%s", violation.message)  # its event is logged by action_log
            what = "a locked file" if violation.kind == "locked" else "outside its scope"
            kind = (EventKind.VIOLATION_LOCKED if violation.kind == "locked"
                    else EventKind.VIOLATION_SCOPE)
            record_notice(store, kind, violation.message, title=f"{violation.agent} changed {what}",
                          agent=violation.agent, path=violation.path, data=violation.as_json())
            self.pause_for_violation(violation.agent, violation.message)

    def forget_violations(self, agent: str, paths: set[str]) -> None:
        """Paths that left the agent's changed set may be reported again later."""
        self._reported = {k: None for k in self._reported
                          if not (k[0] == agent and k[1] in paths)}

    def forget_agent(self, agent: str) -> None:
        """An agent that is gone: nothing about it needs remembering."""
        with self._lock:
            self._reported = {k: None for k in self._reported if k[0] != agent}
            self._health_heads = {k: None for k in self._health_heads if k[0] != agent}
            self._health_due.pop(agent, None)
            self._full_due.discard(agent)
            self._agent_locks.pop(agent, None)
            self._own_tips.pop(agent, None)
        self._pending.take(agent)

    def memory_sizes(self) -> dict[str, int]:
        """Entries of each in-memory map (for the soak benchmark and tests)."""
        with self._lock:
            return {"reported": len(self._reported), "health_heads": len(self._health_heads),
                    "full_due": len(self._full_due), "futures": len(self._futures)}

    def refresh_context_files(self) -> None:
        """Rewrite the agents' context files on a worker (coalesced)."""
        with self._lock:
            if self._context_due:
                return
            self._context_due = True
        self._submit(self._refresh_context_files)

    def _refresh_context_files(self) -> None:
        with self._lock:
            self._context_due = False
        try:
            refresh_context_files(self._workspace(), self._store(), self.context_source())
        except Exception:
            log.exception("refreshing context files failed")

    def agent_committed(self, agent: str, old_head: str | None, new_head: str) -> None:
        """The agent's HEAD moved: check the newest HEAD once the agent's running check (if
        any) is over; heads that come meanwhile replace the one waiting."""
        health = self._config().health
        if not health.checks or not health.on_commit:
            return
        with self._lock:
            _remember(self._health_heads, (agent, new_head), MAX_HEALTH_HEADS)
            waiting = self._health_due.get(agent)
            since = waiting.old_head if waiting is not None else old_head
            self._health_due[agent] = _HealthDue(since, new_head, catch_up=False)
        self._queue_health(agent, new_head)

    def catch_up_health(self, agent: str, head: str) -> None:
        """Check an agent's HEAD seen at start (or when the agent appears) unless it already
        has a verdict for every configured check: commits made while the daemon was down
        (a reboot, a service restart) are checked like new ones."""
        health = self._config().health
        if not health.checks or not health.on_commit:
            return
        with self._lock:
            if (agent, head) in self._health_heads or agent in self._health_due:
                return
            _remember(self._health_heads, (agent, head), MAX_HEALTH_HEADS)
            self._health_due[agent] = _HealthDue(None, head, catch_up=True)
        self._queue_health(agent, head)

    def _queue_health(self, agent: str, head: str) -> None:
        try:
            health_table.set_progress(self._store(), agent, head, "pending")
        except Exception:
            log.exception("cannot record the pending health check of %s", agent)
        with self._lock:
            if agent in self._health_active:
                return  # the agent's job takes the newest HEAD when its check is over
            self._health_active.add(agent)
        if self._submit(self._health_for, agent) is None:
            with self._lock:
                self._health_active.discard(agent)

    def _health_for(self, agent: str) -> None:
        """Check the agent's newest due HEAD, again and again until none is due."""
        while True:
            with self._lock:
                due = self._health_due.pop(agent, None)
                if due is None:
                    self._health_active.discard(agent)
                    return
            if due.catch_up:
                self._catch_up_health(agent, due.new_head)
            else:
                self._on_commit(agent, due.old_head, due.new_head)

    def request_full_checkpoint(self, agent: str) -> None:
        with self._lock:
            if agent in self._full_due:
                return
            self._full_due.add(agent)
        self._submit(self.checkpoint, agent)

    # --- run on worker or scheduler threads ---------------------------------------------------

    def release_stale_locks(self) -> int:
        """Free expired or abandoned locks and tell their holders, even when nobody asks for
        them; returns how many were released."""
        if not locks.list_locks(self._store()):
            return 0  # the idle case: no git call, no write transaction
        workspace = self._workspace()
        try:
            known: set[str] | None = {agent.name for agent in workspace.agents}
        except GitwardenError as exc:
            log.warning("cannot list agents for stale locks: %s", exc)
            known = None  # never take a lock away for an agent we could not see
        released = locks.release_stale(self._store(), stale_after=self._config().locks.stale_after,
                                       known_agents=known)
        for item in released:
            log.info("released stale lock '%s' of %s: %s", item.lock.pattern, item.lock.agent,
                     item.why)
        if released:
            self.refresh_context_files()
        return len(released)

    def pause_for_violation(self, agent: str, message: str) -> None:
        """Opt-in policy (watch.pause_on_violation): pause an agent whose policy is pause or
        revert after it changed a locked or out-of-scope file behind the hooks' back."""
        config = self._config()
        if not config.watch.pause_on_violation or \
                config.agent(agent).policy not in ("pause", "revert"):
            return
        self._submit(self._pause_for_violation, agent, message)

    def _pause_for_violation(self, agent: str, message: str) -> None:
        store = self._store()
        if not pauses.auto_actions_allowed(store, agent):
            return  # the kill switch or an earlier pause already holds the agent
        try:
            apply_pause(self._workspace(), store, agent, message, by="daemon")
        except Exception:
            log.exception("cannot pause %s after a violation", agent)
            return
        log.debug("paused agent %s: %s", agent, message)  # its event is logged by action_log
        self.refresh_context_files()

    def checkpoint_lock(self, agent: str) -> threading.Lock:
        """Held while a checkpoint of `agent` is claimed and taken."""
        with self._lock:
            return self._agent_locks.setdefault(agent, threading.Lock())

    def claim_checkpoint(self, agent: str) -> tuple[bool, set[str] | None]:
        """(a full checkpoint is due, the paths pending), both no longer due: call holding
        checkpoint_lock(agent), give them back with unclaim_checkpoint when none is taken, and
        tell checkpoint_taken about the one taken."""
        tip = self._chain_tip(agent)
        with self._lock:
            full = agent in self._full_due or tip != self._own_tips.get(agent)
            self._full_due.discard(agent)
        return full, self._pending.take(agent)

    def checkpoint_taken(self, agent: str, result: CheckpointResult) -> None:
        if result.status != "skipped" and result.commit:
            with self._lock:
                self._own_tips[agent] = result.commit

    def _chain_tip(self, agent: str) -> str | None:
        try:
            ref = pygit2.Repository(str(self.repo.common_dir)).references.get(
                checkpoint_ref(agent))
        except (pygit2.GitError, ValueError):
            return ""  # unreadable: matches no tip, so a full scan
        return str(ref.target) if ref is not None else None

    def unclaim_checkpoint(self, agent: str, full: bool, paths: set[str] | None) -> None:
        if full:
            with self._lock:
                self._full_due.add(agent)
        if paths:
            self._pending.add(agent, paths)

    def checkpoint(self, agent: str) -> None:
        """A checkpoint of `agent`: full when one is due, else of the pending paths only."""
        with self.checkpoint_lock(agent):
            self._checkpoint(agent)

    def _checkpoint(self, agent: str) -> None:
        full, paths = self.claim_checkpoint(agent)
        if not full and not paths:
            return
        workspace = self._workspace()
        try:
            target = workspace.agent(agent)
        except Exception:
            return
        if not target.exists or operation_in_progress(target.git_dir):
            self.unclaim_checkpoint(agent, full, paths)
            return
        try:
            result = take_checkpoint(
                workspace, agent, changed_paths=None if full else sorted(paths or ()),
                store=self._store())
        except Exception as exc:
            self.unclaim_checkpoint(agent, full, paths)
            log.warning("checkpoint of %s failed: %s", agent, exc)
            return
        if result.status == "skipped":  # not in the chain: the next checkpoint must hold them
            self.unclaim_checkpoint(agent, full, paths)
            return
        self.checkpoint_taken(agent, result)
        commit = result.commit
        if result.status == "created":
            scope = "full" if full else f"{len(paths or ())} path(s)"
            log.info("checkpoint of %s: %s (%s)", agent, (commit or "")[:10], scope)
            record_event(self._store(), EventKind.CHECKPOINT_CREATED,
                                     f"checkpoint {(commit or '')[:10]} of "
                         f"{agent} ({scope})", agent=agent,
                         data={"commit": commit, "full": full,
                               "paths": sorted(paths or ())[:50]})
            # A big checkpoint (thousands of new files) is packed now rather than at the next
            # repack check: loose objects past gc.auto make every agent commit run `git gc`.
            with self._lock:
                tidy = not self._tidy_due
                self._tidy_due = True
            if tidy:  # coalesced: one count (and maybe repack) queued at a time
                self._submit(self._tidy_objects)
            health = self._config().health
            if commit and health.checks and health.on_checkpoint:
                self._health_call(health_service.on_checkpoint, workspace, agent, commit)

    def _tidy_objects(self) -> None:
        with self._lock:
            self._tidy_due = False
        try:
            tidy_objects(self.repo, self._config(), self._store())
        except Exception:
            log.exception("packing loose objects failed")

    def _catch_up_health(self, agent: str, head: str) -> None:
        wanted = {check.name for check in self._config().health.checks}
        try:
            checked = health_table.checks_with_verdict(self._store(), agent, head)
        except Exception:
            log.exception("cannot read the health verdicts of %s", agent)
            return
        if wanted <= checked:
            health_table.clear_progress(self._store(), agent, head)
            return
        log.info("checking %s at %s: no health verdict yet (committed while not watching)",
                 agent, head[:10])
        self._on_commit(agent, None, head)

    def _on_commit(self, agent: str, old_head: str | None, new_head: str) -> None:
        self._health_call(health_service.on_agent_commit, self._workspace(), agent, old_head,
                          new_head)

    def _health_call(self, function: Callable[..., None], workspace: Workspace, agent: str,
                     *args: Any) -> None:
        """Run a health entry point; it may pause an agent, so the context files follow. A
        failure is a health.error event the user is told about, not only a traceback."""
        try:
            function(workspace, agent, *args)
        except health_runner.HealthRunAborted as exc:
            log.info("%s", exc)
        except Exception as exc:
            log.exception("health check %s failed", function.__name__)
            try:
                record_notice(self._store(), EventKind.HEALTH_ERROR,
                              f"{agent}: health check failed: {exc}",
                              title=f"gitwarden: cannot check {agent}",
                              body=f"the health check failed: {exc}", agent=agent,
                              severity="error", data={"error": str(exc)},
                              dedup=f"health-error {agent} {type(exc).__name__}")
            except Exception:
                log.exception("cannot record the health error of %s", agent)
        self.refresh_context_files()

    # --- helpers -----------------------------------------------------------------------------

    def _submit(self, func: Callable[..., None], *args: Any) -> Future[None] | None:
        try:
            future = self._pool.submit(func, *args)
        except RuntimeError:
            return None  # shutting down
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _workspace(self) -> Workspace:
        return Workspace(repo=self.repo, config=self._config())

    def _store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.repo)
            self._local.store = store
        elif (reopened := store.reopen_if_replaced()) is not None:
            log.info("%s (background tasks)", reopened)  # the pipeline records the event
        return store


def _remember(seen: dict[Any, None], key: Any, limit: int) -> None:
    """Add `key` to an insertion-ordered set, dropping the oldest beyond `limit`."""
    seen.pop(key, None)
    seen[key] = None
    while len(seen) > limit:
        del seen[next(iter(seen))]
