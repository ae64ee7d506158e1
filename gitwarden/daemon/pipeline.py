"""The event pipeline: file events -> debounce -> changed sets -> overlaps -> events.

One thread owns all the bookkeeping (the tracker, the watch list, its Store and its pygit2
repository); everybody else talks to it through its queue. It blocks on that queue, so an
idle daemon costs nothing.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.config import Config
from gitwarden.daemon import gitscan
from gitwarden.daemon.batching import (
    Bursts,
    Command,
    agent_of,
    answer_until_stop,
    collect_batch,
    on_leading_edge,
)
from gitwarden.daemon.context_report import base_name, context_report
from gitwarden.daemon.final_names import FinalNames
from gitwarden.daemon.fs_events import fold_events
from gitwarden.daemon.jobs import Jobs
from gitwarden.daemon.memory import memory_sizes, with_heap_sizes
from gitwarden.daemon.pending import PendingPaths
from gitwarden.daemon.reconcile import Reconciler
from gitwarden.daemon.remote_agents import RemoteAgents, local_presence
from gitwarden.daemon.snapshot import build_snapshot
from gitwarden.daemon.watcher import FsEvent
from gitwarden.daemon.watcher_choice import WATCHER_ENV, choose_watcher, start_or_poll
from gitwarden.daemon.watches import AgentWatches, files_in
from gitwarden.errors import GitwardenError
from gitwarden.git.changes import resolve_base, worktree_changes
from gitwarden.git.quick_diff import QuickDiff
from gitwarden.overlaps.base import BaseAwareness
from gitwarden.overlaps.base_recorder import BaseRecorder
from gitwarden.overlaps.predict import MergePredictor
from gitwarden.overlaps.recorder import OverlapRecorder
from gitwarden.overlaps.tracker import ChangeTracker
from gitwarden.store.activity import record_activity
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, is_notice, record_event

log = logging.getLogger("gitwarden.pipeline")

PERIODIC = "periodic"  # a scheduled reconcile: on a budget (reconcile.py), not a full one


class Pipeline:
    def __init__(self, workspace: Workspace, jobs: Jobs, pending: PendingPaths,
                 on_polling: Callable[[str, bool], None] | None = None,
                 on_event_recorded: Callable[[], None] | None = None,
                 on_local_change: Callable[[], None] | None = None) -> None:
        self.workspace = workspace
        self.jobs = jobs
        self.queue: queue.Queue[FsEvent | Command] = queue.Queue()
        self.watcher = choose_watcher(self.queue.put, os.environ.get(WATCHER_ENV))
        self.watches = AgentWatches(self.watcher, workspace.repo.common_dir,
                                    on_polling or (lambda _name, _on: None),
                                    self._event)
        self.tracker = ChangeTracker()
        self.quick_diff = QuickDiff()
        self._on_event_recorded = on_event_recorded or (lambda: None)
        self._on_local_change = on_local_change or (lambda: None)
        self._local_key: object = None
        self._agents: dict[str, Agent] = {}
        self.remote = RemoteAgents()
        self._base_commit: str | None = None
        self.pending = pending
        self._snapshot: dict[str, Any] = {"agents": [], "overlaps": []}
        self._snapshot_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.store: Store | None = None
        self.overlaps: OverlapRecorder | None = None
        self.base: BaseRecorder | None = None
        self.reconciler = Reconciler()
        self.bursts = Bursts()
        jobs.context_source = self.context_report
        self.final_names = FinalNames(self)
        self.startup_error: str | None = None

    # --- public, thread-safe -----------------------------------------------------------------

    def start(self) -> None:
        self.watcher = self.watches.watcher = start_or_poll(self.watcher)
        self._thread = threading.Thread(target=self._run, name="gitwarden-pipeline",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.call("stop", timeout=10)
        self.watcher.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def post(self, name: str, arg: Any = None) -> Command:
        command = Command(name, arg)
        self.queue.put(command)
        return command

    def call(self, name: str, arg: Any = None, timeout: float = 60.0) -> Any:
        command = self.post(name, arg)
        command.done.wait(timeout)
        return command.result

    def snapshot(self) -> dict[str, Any]:
        with self._snapshot_lock:
            return with_heap_sizes(self._snapshot)

    def context_report(self) -> dict[str, Any] | None:
        """The status report of the context files, from memory; None when the pipeline does
        not run (the caller reads it from git)."""
        if self._thread is None or not self._thread.is_alive() or self.startup_error:
            return None
        command = self.post("context")
        while not command.done.wait(0.5):
            if not self._thread.is_alive():
                return None  # stopped meanwhile: nobody will answer
        report: dict[str, Any] | None = command.result
        return report

    # --- the pipeline thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.store = Store.open(self.workspace.repo)
            predictor = MergePredictor(self.workspace.repo.common_dir)
            self.overlaps = OverlapRecorder(self.store, predictor,
                                            lambda: {**self.remote.agents, **self._agents},
                                            lambda: self.tracker.overlaps, self._event)
            self.base = BaseRecorder(BaseAwareness(self.workspace.repo.common_dir, predictor),
                                     self._event)
            self.overlaps.restore_into(self.tracker)
            self.remote.seed(self.workspace, self.store, self.tracker, time.time())
        except Exception as exc:
            self.startup_error = f"{type(exc).__name__}: {exc}"
            answer_until_stop(self.queue)
            return
        running = True
        while running:
            batch = collect_batch(self.queue, self.workspace.config.watch.debounce,
                                  self._on_leading_edge)
            running = not any(isinstance(i, Command) and i.name == "stop" for i in batch)
            started = time.monotonic()
            try:
                if self.overlaps is not None:
                    self.overlaps.follow_replaced_store()
                self._handle(batch)
                log.debug("handled %d item(s) in %.0f ms", len(batch),
                          (time.monotonic() - started) * 1000)
            except Exception:
                self.reconciler.full_due = True
                log.exception("event batch failed; the next reconcile will repair state")
            for item in batch:
                if isinstance(item, Command):
                    item.done.set()
        self.store.close()

    def _handle(self, batch: list[FsEvent | Command]) -> None:
        events = [item for item in batch if isinstance(item, FsEvent)]
        commands = [item for item in batch if isinstance(item, Command)]
        now = time.time()
        overflow = any(e.kind == "overflow" for e in events)
        reconcile = overflow or any(c.name in ("reconcile", "start") for c in commands)
        if overflow or any(c.name in ("reconcile", "start") and c.arg != PERIODIC
                           for c in commands):
            self.reconciler.full_due = True
        meta = repredict = False
        by_agent: dict[str, list[FsEvent]] = {}
        for event in events:
            if event.kind == "overflow":
                continue
            if self.watches.is_meta(event.path):
                meta = meta or self.watches.meta_relevant(event.path)
                continue
            name = self._agent_of(event.path)
            if name is not None:
                by_agent.setdefault(name, []).append(event)
        # Marked before the events are applied: if applying fails, the reconcile repairs them.
        self.reconciler.unsettled.update(by_agent)
        for command in commands:
            if command.name == "reload":
                self._reload(command.arg)
                reconcile = True
            elif command.name == "recheck" and command.arg in self._agents:
                self.final_names.recheck(command.arg, self._agents[command.arg].path)
            elif command.name == "poll":
                self._full_agent(command.arg, now)
            elif command.name == "poll-git":
                meta = True  # no watches on the git metadata: poll it
            elif command.name == "remote":
                repredict = self.remote.apply(command.arg, self.tracker, now) or repredict
            elif command.name == "unwatch" and command.arg in self._agents:
                # Drops an agent's watches as a lost inotify queue would; reconcile repairs.
                self.watcher.remove_tree(str(self._agents[command.arg].path))
                self.reconciler.unsettled.add(command.arg)
        if meta and not reconcile:
            self._refresh_git_state(now)
        for name, agent_events in by_agent.items():
            if name in self._agents and self._apply_events(name, agent_events, now):
                self.reconciler.unsettled.discard(name)  # git was asked: nothing missed
        if reconcile:
            self._reconcile(now, initial=any(c.name == "start" for c in commands))
        self._after_changes(now, full=reconcile or repredict,
                            touched={e.path for e in events})
        for command in commands:
            if command.name == "status":
                command.result = self.snapshot()
            elif command.name == "presence":
                command.result = local_presence(self._base_commit, self._agents, self.tracker)
            elif command.name == "settle":  # the events before it applied (manual_checkpoint)
                command.result = (set(self._agents), set(self.reconciler.unsettled),
                                  set(self.watches.polling))
            elif command.name == "context":
                command.result = context_report(self._agents, self.tracker, self.base,
                                                base_name(self.workspace))

    # --- agents and watches ------------------------------------------------------------------

    def _agent_of(self, path: str) -> str | None:
        return agent_of({name: str(view.path) for name, view in self._agents.items()}, path)

    def _on_leading_edge(self, event: FsEvent) -> bool:
        roots = {name: str(view.path) for name, view in self._agents.items()}
        return on_leading_edge(event, roots, self.tracker.changed_by_other) and \
            self.bursts.first_of_burst(event.path, time.monotonic(),
                                       self.workspace.config.watch.debounce)

    def _watch_agent_tree(self, name: str, start: str = "") -> list[str]:
        """Watch `start` (relative) and its non-ignored subdirectories; returns them."""
        watch = self.workspace.config.watch
        return self.watches.watch_tree(name, self._agents[name].path, start, watch.ignore,
                                       watch.poll_interval)

    def _refresh_git_state(self, now: float) -> set[str]:
        """Re-read worktrees, branches and HEADs; recompute new agents and agents whose HEAD
        moved, and return their names."""
        old_base = self._base_commit
        old = dict(self._agents)
        self.workspace.refresh()
        try:
            agents = {a.name: a for a in self.workspace.agents}
            self._base_commit = resolve_base(self.workspace.repo.main_worktree,
                                             self.workspace.base_branch)
        except GitwardenError as exc:
            log.warning("cannot read the repository state: %s", exc)
            return set()
        self.watches.watch_meta()
        recomputed: set[str] = set()
        base_moved = old_base != self._base_commit
        for name in (set(old) | set(self.tracker.agents)) - set(agents) - \
                set(self.remote.agents):
            self._drop_agent(name, "removed")
        for name, agent in agents.items():
            previous = old.get(name)
            if not agent.exists:
                if previous is not None:
                    self._drop_agent(name, "worktree missing")
                continue
            if previous is None or previous.path != agent.path:
                if previous is not None:
                    self.watcher.remove_tree(str(previous.path))
                self._agents[name] = agent
                if previous is None:
                    log.info("watching agent %s at %s", name, agent.path)
                self._watch_agent_tree(name)
                self._full_agent(name, now)
                recomputed.add(name)
                self.jobs.request_full_checkpoint(name)
                if agent.head and agent.branch is not None:
                    self.jobs.catch_up_health(name, agent.head)
                continue
            self._agents[name] = agent
            if previous.head != agent.head or previous.branch != agent.branch or base_moved:
                self._full_agent(name, now)
                recomputed.add(name)
            if previous.head != agent.head and agent.head and previous.branch == agent.branch \
                    and agent.branch is not None:
                self.jobs.agent_committed(name, previous.head, agent.head)
        return recomputed

    def _drop_agent(self, name: str, why: str) -> None:
        view = self._agents.pop(name, None)
        if self.base is not None:
            self.base.forget(name)
        if view is not None:
            self.watches.forget(name, view.path)
            log.info("no longer watching agent %s (%s)", name, why)
        self.tracker.remove_agent(name)
        self.reconciler.forget(name)
        self.jobs.forget_agent(name)

    def _full_agent(self, name: str, now: float) -> bool:
        """Recompute one agent's changed set from git; True when it differed."""
        view = self._agents.get(name)
        if view is None or self._base_commit is None or not view.exists:
            return False
        signature = self.reconciler.signature(view)
        changes = worktree_changes(view.path, view.head, self._base_commit)
        if changes.error:
            log.warning("cannot read changes of %s: %s", name, changes.error)
            return False
        self.reconciler.was_read(name, signature, now)
        if self.base is not None:
            self.base.due.add(name)
        before = self.tracker.changed(name)
        self.tracker.set_committed(name, changes.committed, now)
        self.tracker.set_dirty(name, (*changes.uncommitted, *changes.untracked), now)
        after = self.tracker.changed(name)
        if before != after:
            self.pending.add(name, before ^ after)
        return before != after

    def _reconcile(self, now: float, *, initial: bool = False) -> None:
        started = time.monotonic()
        fresh = self._refresh_git_state(now)  # new agents: recomputed, full checkpoint asked
        lost = self.reconciler.full_due  # an overflow or a failed batch: events were dropped
        plan = self.reconciler.plan(
            self._agents, fresh, now, initial=initial,
            repo_signature=gitscan.repo_signature(self.workspace.repo.common_dir),
            watched=self.watcher.watched, polling=self.watches.polling)
        repaired, unseen = [], []
        for name in plan.read:
            if self._full_agent(name, now) and not initial:
                repaired.append(name)
            elif not initial and (lost or name in plan.unwatched):
                # Its changed set looks the same, but a file already changed may have changed
                # again unseen: only a full checkpoint holds that (checkpoints.freshness).
                unseen.append(name)
        for name in (*repaired, *unseen):
            self.jobs.request_full_checkpoint(name)
        self.reconciler.finish(plan, len(self._agents), now)
        level = logging.INFO if repaired or initial else logging.DEBUG
        log.log(level, "reconciled %d agent(s)%s in %.0f ms%s", len(self._agents) - plan.skipped,
                f" ({plan.skipped} unchanged skipped)" if plan.skipped else "",
                (time.monotonic() - started) * 1000,
                f"; repaired missed changes of {', '.join(repaired)}" if repaired else "")

    def _reload(self, config: Config) -> None:
        self.workspace = Workspace(repo=self.workspace.repo, config=config)
        for name in list(self._agents):
            self.watcher.remove_tree(str(self._agents[name].path))
        self._agents.clear()
        self.watches.stop_polling_all()

    def _apply_events(self, name: str, events: list[FsEvent], now: float) -> bool:
        """Apply one agent's events; False when git could not be asked (then the agent stays
        unsettled and the next reconcile reads it whole)."""
        view = self._agents[name]
        root = str(view.path)
        folded = fold_events(events, root, self.workspace.config.watch.ignore)
        files, dirs, created = folded.files, folded.dirs, folded.created
        for rel in folded.new_dirs:  # files made before the watch existed: seen only here
            for directory in self._watch_agent_tree(name, rel):
                for file_rel in files_in(directory, root):
                    files.setdefault(file_rel, "create")
        for gone in folded.gone_dirs:
            self.watcher.remove_tree(gone)
        files = self.final_names.not_ours(root, files, now)
        if not files and not dirs:
            return True
        try:
            scope = sorted(set(files) | dirs)
            many = len(scope) > gitscan.MAX_PATHSPECS
            quick = self.quick_diff.leading_dirty(view.path, scope, lambda rel: self.tracker
                                                  .changed_by_other(name, rel))
            ignored, present = (set(), quick) if quick else gitscan.ignored_and_dirty(
                view.path, list(files), None if many else scope)
        except GitwardenError as exc:
            log.warning("cannot read the status of %s: %s", name, exc)
            return False
        # A file created and gone within one batch is an editor's temp file: not activity.
        transient = {p for p in created if not os.path.lexists(os.path.join(root, p))}
        record_activity(self._store(), ((now, name, path, action)
                                        for path, action in files.items()
                                        if path not in ignored and path not in transient))
        if self.base is not None:
            self.base.due.add(name)
        before = self.tracker.changed(name)
        if many:
            self.tracker.set_dirty(name, present, now)
        else:
            self.tracker.update_dirty(name, files=files, dirs=dirs, present=present, now=now)
        after = self.tracker.changed(name)
        relevant = {p for p in files if p not in ignored} | (before ^ after)
        self.pending.add(name, relevant)
        if before - after:
            self.jobs.forget_violations(name, before - after)
        self.final_names.settle(name, root, relevant, created, present)
        return True

    # --- overlaps ----------------------------------------------------------------------------

    def _after_changes(self, now: float, *, full: bool, touched: set[str]) -> None:
        delta = self.tracker.diff_overlaps(now, full=full)
        assert self.overlaps is not None
        reclassified = self.overlaps.reclassify(now, touched, full, delta)
        if delta:
            self.overlaps.record(delta, now)
        if self._compare_with_base() or delta or reclassified:
            self.jobs.refresh_context_files()
        self._update_snapshot()

    def _compare_with_base(self) -> bool:
        if self.base is None or self._base_commit is None:
            return False
        return self.base.compare(self.workspace, self._base_commit, self._agents,
                                 self.tracker.committed, self.tracker.dirty)

    def _update_snapshot(self) -> None:
        snapshot = build_snapshot(self._agents, self.tracker, self.watches.polling, self.watcher,
                                  self.overlaps, self.base, self.remote, self.reconciler.last,
                                  self.reconciler.stats)
        snapshot["memory"] = memory_sizes(
            self.tracker, self.overlaps, self.jobs, self.pending, agents=len(self._agents),
            watches=self.watcher.count, polling=len(self.watches.polling), bursts=len(self.bursts),
            quick_diff_indexes=len(self.quick_diff), **self.reconciler.memory_sizes(),
            base_cache=self.base.awareness.cache_size if self.base is not None else 0)
        with self._snapshot_lock:
            self._snapshot = snapshot
        local_key = [(n, v.head, self.tracker.changed(n)) for n, v in sorted(self._agents.items())]
        if local_key != self._local_key:
            self._local_key = local_key
            self._on_local_change()

    def _store(self) -> Store:
        assert self.store is not None
        return self.store

    def _event(self, kind: EventKind, message: str, *, agent: str | None = None,
               path: str | None = None, severity: str = "info",
               data: dict[str, Any] | None = None) -> None:
        record_event(self._store(), kind, message, agent=agent, path=path, severity=severity,
                     data=data)
        if data and is_notice(data):
            self._on_event_recorded()

