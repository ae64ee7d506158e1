"""The event pipeline: file events -> debounce -> changed sets -> overlaps -> events.

One thread owns all the bookkeeping (the tracker, the watch list, its Store and its pygit2
repository); everybody else talks to it through its queue. It blocks on that queue, so an
idle daemon costs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.config import Config
from gitwarden.daemon import gitscan
from gitwarden.daemon.jobs import Jobs
from gitwarden.daemon.watcher import DirectoryWatcher, FsEvent, WatchLimitError
from gitwarden.errors import GitwardenError
from gitwarden.git.changes import resolve_base, worktree_changes
from gitwarden.overlaps import table as overlap_store
from gitwarden.overlaps.predict import CONFLICT, MergePredictor, Prediction, Side
from gitwarden.overlaps.tracker import ChangeTracker, Overlap, OverlapDelta
from gitwarden.store.activity import record_activity
from gitwarden.store.db import Store
from gitwarden.store.events import record_event

log = logging.getLogger("gitwarden.pipeline")

MAX_BATCH_DELAY = 1.0
MAX_BATCH_EVENTS = 200_000
_META_SKIP = {"index", "COMMIT_EDITMSG", "FETCH_HEAD", "ORIG_HEAD", "AUTO_MERGE", "gc.pid",
              "gc.log", "description", "logs", "objects", "hooks", "info", "gitwarden"}
_ACTIONS = {"create": "create", "write": "write", "delete": "delete", "move-from": "move",
            "move-to": "move"}
# A scheduled reconcile recomputes only agents that may have changed unseen; every this many
# seconds it recomputes them all, for what inotify cannot report (a file written through a
# long-open descriptor, a network file system).
FULL_RECONCILE_INTERVAL = 600.0
PERIODIC = "periodic"
WATCH_LIMIT_ADVICE = ("raise it with `sudo sysctl fs.inotify.max_user_watches=524288` "
                      "(persist in /etc/sysctl.d/)")


@dataclass
class Command:
    """A request for the pipeline thread; `done` is set once it was handled."""

    name: str
    arg: Any = None
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None


@dataclass
class _AgentView:
    agent: Agent


class Pipeline:
    def __init__(self, workspace: Workspace, jobs: Jobs,
                 on_polling: Callable[[str, bool], None] | None = None,
                 on_event_recorded: Callable[[], None] | None = None) -> None:
        self.workspace = workspace
        self.jobs = jobs
        self.queue: queue.Queue[FsEvent | Command] = queue.Queue()
        self.watcher = DirectoryWatcher(self.queue.put)
        self.tracker = ChangeTracker()
        self.polling: set[str] = set()
        self._on_polling = on_polling or (lambda _name, _on: None)
        self._on_event_recorded = on_event_recorded or (lambda: None)
        self._agents: dict[str, _AgentView] = {}
        self._base_commit: str | None = None
        self._pending: dict[str, set[str]] = {}
        self._pending_lock = threading.Lock()
        self._classification: dict[str, Prediction] = {}
        self._told_conflict: set[str] = set()  # overlap keys already notified as conflicts
        self._snapshot: dict[str, Any] = {"agents": [], "overlaps": []}
        self._snapshot_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.store: Store | None = None
        self.predictor: MergePredictor | None = None
        self.last_reconcile: float | None = None
        self._last_full_reconcile: float | None = None
        self._full_reconcile_due = True
        self._unsettled: set[str] = set()  # agents with events since their last recompute
        self._signatures: dict[str, tuple[object, ...]] = {}
        self._repo_signature: tuple[object, ...] | None = None
        self.reconcile_stats: dict[str, Any] = {}
        self.startup_error: str | None = None

    # --- public, thread-safe -----------------------------------------------------------------

    def start(self) -> None:
        self.watcher.start()
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

    def take_pending(self, agent: str) -> set[str] | None:
        """Paths changed since the last checkpoint of `agent` (None: nothing changed)."""
        with self._pending_lock:
            paths = self._pending.pop(agent, None)
        return paths

    def give_back_pending(self, agent: str, paths: set[str]) -> None:
        with self._pending_lock:
            self._pending.setdefault(agent, set()).update(paths)

    def snapshot(self) -> dict[str, Any]:
        with self._snapshot_lock:
            return dict(self._snapshot)

    # --- the pipeline thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.store = Store.open(self.workspace.repo)
            self.predictor = MergePredictor(self.workspace.repo.common_dir)
            self._restore_overlaps()
        except Exception as exc:
            self.startup_error = f"{type(exc).__name__}: {exc}"
            while True:  # answer every command so that nobody waits forever
                item = self.queue.get()
                if isinstance(item, Command):
                    item.done.set()
                    if item.name == "stop":
                        return
        running = True
        while running:
            batch = self._collect()
            running = not any(isinstance(i, Command) and i.name == "stop" for i in batch)
            started = time.monotonic()
            try:
                self._handle(batch)
                log.debug("handled %d item(s) in %.0f ms", len(batch),
                          (time.monotonic() - started) * 1000)
            except Exception:
                self._full_reconcile_due = True
                log.exception("event batch failed; the next reconcile will repair state")
            for item in batch:
                if isinstance(item, Command):
                    item.done.set()
        self.store.close()

    def _collect(self) -> list[FsEvent | Command]:
        batch: list[FsEvent | Command] = [self.queue.get()]
        debounce = self.workspace.config.watch.debounce
        deadline = time.monotonic() + MAX_BATCH_DELAY
        while len(batch) < MAX_BATCH_EVENTS:
            if isinstance(batch[-1], Command):
                break  # commands are answered promptly
            wait = min(debounce, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                batch.append(self.queue.get(timeout=wait))
            except queue.Empty:
                break
        return batch

    def _handle(self, batch: list[FsEvent | Command]) -> None:
        events = [item for item in batch if isinstance(item, FsEvent)]
        commands = [item for item in batch if isinstance(item, Command)]
        now = time.time()
        overflow = any(e.kind == "overflow" for e in events)
        reconcile = overflow or any(c.name in ("reconcile", "start") for c in commands)
        if overflow or any(c.name in ("reconcile", "start") and c.arg != PERIODIC
                           for c in commands):
            self._full_reconcile_due = True
        meta = False
        by_agent: dict[str, list[FsEvent]] = {}
        for event in events:
            if event.kind == "overflow":
                continue
            if self._is_meta(event.path):
                meta = meta or self._meta_relevant(event.path)
                continue
            name = self._agent_of(event.path)
            if name is not None:
                by_agent.setdefault(name, []).append(event)
        # Marked before the events are applied: if applying fails, the reconcile repairs them.
        self._unsettled.update(by_agent)
        for command in commands:
            if command.name == "reload":
                self._reload(command.arg)
                reconcile = True
            elif command.name == "poll":
                self._full_agent(command.arg, now)
            elif command.name == "unwatch" and command.arg in self._agents:
                # Drops an agent's watches as a lost inotify queue would; reconcile repairs.
                self.watcher.remove_tree(str(self._agents[command.arg].agent.path))
                self._unsettled.add(command.arg)
        if meta and not reconcile:
            self._refresh_git_state(now)
        for name, agent_events in by_agent.items():
            if name in self._agents:
                self._apply_events(name, agent_events, now)
        if reconcile:
            self._reconcile(now, initial=any(c.name == "start" for c in commands))
        self._after_changes(now, full=reconcile,
                            touched={e.path for e in events})
        for command in commands:
            if command.name == "status":
                command.result = self.snapshot()

    # --- agents and watches ------------------------------------------------------------------

    def _agent_of(self, path: str) -> str | None:
        best: tuple[int, str] | None = None
        for name, view in self._agents.items():
            root = str(view.agent.path)
            if path.startswith(root + os.sep) and (best is None or len(root) > best[0]):
                best = (len(root), name)
        return best[1] if best else None

    def _is_meta(self, path: str) -> bool:
        return path.startswith(str(self.workspace.repo.common_dir) + os.sep)

    def _meta_relevant(self, path: str) -> bool:
        rel = os.path.relpath(path, self.workspace.repo.common_dir)
        parts = rel.split(os.sep)
        if parts[-1].endswith(".lock") or any(p in _META_SKIP for p in parts):
            return False
        return not (len(parts) == 3 and parts[0] == "worktrees" and parts[2] == "index")

    def _watch_meta(self) -> None:
        common = self.workspace.repo.common_dir
        dirs = [str(common), str(common / "worktrees")]
        dirs += gitscan.watchable_dirs(common / "refs", "heads", set(), ()) \
            if (common / "refs" / "heads").is_dir() else []
        with contextlib.suppress(OSError):
            dirs += [entry.path for entry in os.scandir(common / "worktrees") if entry.is_dir()]
        for directory in dirs:
            try:
                self.watcher.add(directory)
            except WatchLimitError:
                log.warning("no inotify watch left for git metadata %s; relying on reconcile",
                            directory)
                return

    def _watch_agent_tree(self, name: str, start: str = "") -> list[str]:
        """Watch `start` (relative) and its non-ignored subdirectories; returns them."""
        if name in self.polling:
            return []
        view = self._agents[name]
        path = view.agent.path
        try:
            ignored = gitscan.ignored_dirs(path, start or None)
            if start and start.rstrip("/") in ignored:
                return []
            dirs = gitscan.watchable_dirs(path, start, ignored,
                                          self.workspace.config.watch.ignore)
        except (GitwardenError, OSError) as exc:
            log.warning("cannot list directories of %s: %s", name, exc)
            return []
        try:
            for directory in dirs:
                self.watcher.add(directory)
        except WatchLimitError as exc:
            self._fall_back_to_polling(name, exc)
        return dirs

    def _fall_back_to_polling(self, name: str, exc: WatchLimitError) -> None:
        view = self._agents[name]
        self.watcher.remove_tree(str(view.agent.path))
        self.polling.add(name)
        interval = self.workspace.config.watch.poll_interval
        message = (f"inotify watch limit reached ({exc.strerror}) while watching agent "
                   f"{name}: polling its worktree every {interval:g}s instead; "
                   f"{WATCH_LIMIT_ADVICE}")
        log.warning("%s", message)
        self._event("watch-limit", message, agent=name, severity="warning",
                    data={"notify": True, "dedup": "watch-limit",
                          "title": "gitwarden: file watch limit reached",
                          "body": f"Polling agent {name} instead. {WATCH_LIMIT_ADVICE}"})
        self._on_polling(name, True)

    def _refresh_git_state(self, now: float) -> set[str]:
        """Re-read worktrees, branches and HEADs; recompute new agents and agents whose HEAD
        moved, and return their names."""
        old_base = self._base_commit
        old = {name: view.agent for name, view in self._agents.items()}
        self.workspace.refresh()
        try:
            agents = {a.name: a for a in self.workspace.agents}
            self._base_commit = resolve_base(self.workspace.repo.main_worktree,
                                             self.workspace.base_branch)
        except GitwardenError as exc:
            log.warning("cannot read the repository state: %s", exc)
            return set()
        self._watch_meta()
        recomputed: set[str] = set()
        base_moved = old_base != self._base_commit
        for name in (set(old) | set(self.tracker.agents)) - set(agents):
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
                self._agents[name] = _AgentView(agent)
                if previous is None:
                    log.info("watching agent %s at %s", name, agent.path)
                self._watch_agent_tree(name)
                self._full_agent(name, now)
                recomputed.add(name)
                self.jobs.request_full_checkpoint(name)
                if agent.head and agent.branch is not None:
                    self.jobs.catch_up_health(name, agent.head)
                continue
            self._agents[name] = _AgentView(agent)
            if previous.head != agent.head or previous.branch != agent.branch or base_moved:
                self._full_agent(name, now)
                recomputed.add(name)
            if previous.head != agent.head and agent.head and previous.branch == agent.branch \
                    and agent.branch is not None:
                self.jobs.agent_committed(name, previous.head, agent.head)
        return recomputed

    def _drop_agent(self, name: str, why: str) -> None:
        view = self._agents.pop(name, None)
        if view is not None:
            self.watcher.remove_tree(str(view.agent.path))
            log.info("no longer watching agent %s (%s)", name, why)
        self.tracker.remove_agent(name)
        if name in self.polling:
            self.polling.discard(name)
            self._on_polling(name, False)

    def _full_agent(self, name: str, now: float) -> bool:
        """Recompute one agent's changed set from git; True when it differed."""
        view = self._agents.get(name)
        if view is None or self._base_commit is None or not view.agent.exists:
            return False
        signature = _agent_signature(view.agent)
        changes = worktree_changes(view.agent.path, view.agent.head, self._base_commit)
        if changes.error:
            log.warning("cannot read changes of %s: %s", name, changes.error)
            return False
        self._unsettled.discard(name)
        self._signatures[name] = signature
        before = self.tracker.changed(name)
        self.tracker.set_committed(name, changes.committed, now)
        self.tracker.set_dirty(name, (*changes.uncommitted, *changes.untracked), now)
        after = self.tracker.changed(name)
        if before != after:
            with self._pending_lock:
                self._pending.setdefault(name, set()).update(before ^ after)
        return before != after

    def _reconcile(self, now: float, *, initial: bool = False) -> None:
        started = time.monotonic()
        fresh = self._refresh_git_state(now)  # new agents: recomputed, full checkpoint asked
        repo_signature = _repo_signature(self.workspace.repo.common_dir)
        full = initial or self._full_reconcile_due or self._last_full_reconcile is None or \
            now - self._last_full_reconcile >= FULL_RECONCILE_INTERVAL or \
            repo_signature != self._repo_signature
        watched = self.watcher.watched() if not full else set()
        repaired, skipped = [], 0
        for name, view in list(self._agents.items()):
            if name in fresh:
                continue  # just read from git: a second read would find the same
            if not full and not self._may_have_missed(name, view, watched):
                skipped += 1
                continue
            if self._full_agent(name, now) and not initial:
                repaired.append(name)
        for name in repaired:
            self.jobs.request_full_checkpoint(name)
        self.last_reconcile = now
        if full:
            self._last_full_reconcile = now
            self._full_reconcile_due = False
            self._repo_signature = repo_signature
        self.reconcile_stats = {"full": full, "recomputed": len(self._agents) - skipped,
                                "skipped": skipped}
        level = logging.INFO if repaired or initial else logging.DEBUG
        log.log(level, "reconciled %d agent(s)%s in %.0f ms%s", len(self._agents) - skipped,
                f" ({skipped} unchanged skipped)" if skipped else "",
                (time.monotonic() - started) * 1000,
                f"; repaired missed changes of {', '.join(repaired)}" if repaired else "")

    def _may_have_missed(self, name: str, view: _AgentView, watched: set[str]) -> bool:
        """Whether a recompute of `name` might find what its file events did not show."""
        if name in self.polling:
            return False  # its poll job recomputes it every few seconds
        return name in self._unsettled or str(view.agent.path) not in watched or \
            self._signatures.get(name) != _agent_signature(view.agent)

    def _reload(self, config: Config) -> None:
        self.workspace = Workspace(repo=self.workspace.repo, config=config)
        for name in list(self._agents):
            self.watcher.remove_tree(str(self._agents[name].agent.path))
        self._agents.clear()
        for name in list(self.polling):
            self._on_polling(name, False)
        self.polling.clear()

    # --- incremental updates -----------------------------------------------------------------

    def _apply_events(self, name: str, events: list[FsEvent], now: float) -> None:
        view = self._agents[name]
        root = str(view.agent.path)
        files: dict[str, str] = {}
        dirs: set[str] = set()
        created: set[str] = set()
        for event in events:
            rel = os.path.relpath(event.path, root).replace(os.sep, "/")
            if rel == ".git" or rel.startswith(".git/") or \
                    gitscan.matches_any(rel, self.workspace.config.watch.ignore):
                continue
            if event.is_dir:
                dirs.add(rel)
                if event.kind in ("create", "move-to"):
                    # Files made before the watch existed: seen only by this scan.
                    for directory in self._watch_agent_tree(name, rel):
                        for file_rel in _files_in(directory, root):
                            files.setdefault(file_rel, "create")
                elif event.kind in ("delete", "move-from"):
                    self.watcher.remove_tree(event.path)
            else:
                if event.kind == "create":
                    created.add(rel)
                files[rel] = _ACTIONS[event.kind]
        if not files and not dirs:
            return
        try:
            ignored = gitscan.ignored_among(view.agent.path, list(files))
            scope = sorted(set(files) | dirs)
            many = len(scope) > gitscan.MAX_PATHSPECS
            present = gitscan.dirty_paths(view.agent.path, None if many else scope)
        except GitwardenError as exc:
            log.warning("cannot read the status of %s: %s", name, exc)
            return
        # A file created and gone within one batch is an editor's temp file: not activity.
        transient = {p for p in created if not os.path.lexists(os.path.join(root, p))}
        record_activity(self._store(), ((now, name, path, action)
                                        for path, action in files.items()
                                        if path not in ignored and path not in transient))
        before = self.tracker.changed(name)
        if many:
            self.tracker.set_dirty(name, present, now)
        else:
            self.tracker.update_dirty(name, files=files, dirs=dirs, present=present, now=now)
        after = self.tracker.changed(name)
        relevant = {p for p in files if p not in ignored} | (before ^ after)
        with self._pending_lock:
            self._pending.setdefault(name, set()).update(relevant)
        if before - after:
            self.jobs.forget_violations(name, before - after)
        if relevant:
            self.jobs.check_paths(self.workspace, self._store(), name, sorted(relevant))

    # --- overlaps ----------------------------------------------------------------------------

    def _restore_overlaps(self) -> None:
        for record in overlap_store.open_overlaps(self._store()):
            self.tracker.restore_overlap(Overlap(record.path, record.agents, record.first_agent,
                                                 record.opened_ts))

    def _after_changes(self, now: float, *, full: bool, touched: set[str]) -> None:
        delta = self.tracker.diff_overlaps(now, full=full)
        reclassified = self._reclassify(now, touched, full, delta)
        if delta:
            self._record_delta(delta, now)
        if delta or reclassified:
            self.jobs.refresh_context_files()
        self._update_snapshot()

    def _predict(self, overlap: Overlap) -> Prediction:
        assert self.predictor is not None
        sides = []
        for name in overlap.agents:
            view = self._agents.get(name)
            if view is not None:
                sides.append(Side(name, view.agent.path, view.agent.head))
        try:
            return self.predictor.predict(overlap.path, sides)
        except Exception as exc:
            log.warning("cannot predict the merge of %s: %s", overlap.path, exc)
            return Prediction(CONFLICT, reason=f"prediction failed: {exc}")

    def _record_delta(self, delta: OverlapDelta, now: float) -> None:
        store = self._store()
        for overlap in delta.resolved:
            self._classification.pop(overlap.path, None)
            self._told_conflict.discard(_overlap_key(overlap))
            overlap_store.resolve_overlap(store, overlap.path, now)
            self._event("overlap-resolved",
                        f"{overlap.path} is no longer changed by several agents "
                        f"(was {', '.join(overlap.agents)})",
                        path=overlap.path, data={"agents": list(overlap.agents)})
        for overlap in delta.opened:
            prediction = self._predict(overlap)
            self._classification[overlap.path] = prediction
            overlap_store.open_overlap(store, overlap.path, overlap.agents, overlap.first_agent,
                                       now, prediction.classification, prediction.as_json())
            title, body = overlap_message(overlap, prediction)
            if prediction.classification == CONFLICT:
                self._told_conflict.add(_overlap_key(overlap))
            log.warning("overlap: %s (%s)", title, prediction.classification)
            self._event("overlap", f"{title}: {body}", path=overlap.path,
                        agent=overlap.first_agent, severity="warning",
                        data={"agents": list(overlap.agents), "first": overlap.first_agent,
                              "classification": prediction.classification,
                              "hunks": [h.as_json() for h in prediction.hunks],
                              "notify": True, "title": title, "body": body,
                              "dedup": f"overlap:{_overlap_key(overlap)}"})
        for overlap in delta.changed:
            prediction = self._predict(overlap)
            self._classification[overlap.path] = prediction
            overlap_store.update_overlap(store, overlap.path, ts=now, agents=overlap.agents,
                                         classification=prediction.classification,
                                         detail=prediction.as_json())
            self._event("overlap-changed",
                        f"{overlap.path} is now changed by {', '.join(overlap.agents)} "
                        f"({prediction.classification})", path=overlap.path,
                        data={"agents": list(overlap.agents),
                              "classification": prediction.classification})

    def _reclassify(self, now: float, touched: set[str], full: bool,
                    delta: OverlapDelta) -> bool:
        fresh = {o.path for o in (*delta.opened, *delta.changed)}
        changed = False
        for path, overlap in self.tracker.overlaps.items():
            if path in fresh:
                continue
            if not full and path in self._classification and \
                    not any(t.endswith(os.sep + path) for t in touched):
                continue
            prediction = self._predict(overlap)
            old = self._classification.get(path)
            self._classification[path] = prediction
            if old is not None and old.classification == prediction.classification and \
                    old.hunks == prediction.hunks:
                continue
            overlap_store.update_overlap(self._store(), path, ts=now,
                                         classification=prediction.classification,
                                         detail=prediction.as_json())
            if old is not None and old.classification != prediction.classification:
                changed = True
                data: dict[str, Any] = {"agents": list(overlap.agents),
                                        "classification": prediction.classification,
                                        "previous": old.classification}
                severity = "info"
                key = _overlap_key(overlap)
                if prediction.classification == CONFLICT and key not in self._told_conflict:
                    # Told once per overlap that it now conflicts, however often it flips.
                    self._told_conflict.add(key)
                    title, body = reclassified_message(overlap, prediction)
                    log.warning("overlap now conflicts: %s", title)
                    severity = "warning"
                    data.update({"hunks": [h.as_json() for h in prediction.hunks],
                                 "notify": True, "title": title, "body": body,
                                 "dedup": f"overlap-conflict:{key}"})
                self._event("overlap-reclassified",
                            f"{path} ({', '.join(overlap.agents)}) is now "
                            f"{prediction.classification}", path=path, severity=severity,
                            data=data)
        return changed

    def _update_snapshot(self) -> None:
        overlaps = self.tracker.overlaps
        snapshot = {
            "pid": os.getpid(),
            "agents": [{"name": name, "path": str(view.agent.path),
                        "changed": len(self.tracker.changed(name)),
                        "watching": "polling" if name in self.polling else "inotify"}
                       for name, view in sorted(self._agents.items())],
            "overlaps": [{"path": path, "agents": list(o.agents),
                          "classification": getattr(self._classification.get(path),
                                                    "classification", None)}
                         for path, o in sorted(overlaps.items())],
            "watches": self.watcher.count,
            "last_reconcile": self.last_reconcile,
            "reconcile": self.reconcile_stats,
        }
        with self._snapshot_lock:
            self._snapshot = snapshot

    # --- helpers -----------------------------------------------------------------------------

    def _store(self) -> Store:
        assert self.store is not None
        return self.store

    def _event(self, kind: str, message: str, *, agent: str | None = None,
               path: str | None = None, severity: str = "info",
               data: dict[str, Any] | None = None) -> None:
        record_event(self._store(), kind, message, agent=agent, path=path, severity=severity,
                     data=data)
        if data and data.get("notify"):
            self._on_event_recorded()


def _stat_key(path: Path) -> tuple[object, ...]:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _agent_signature(agent: Agent) -> tuple[object, ...]:
    """What changes when git commands (not file edits) may change an agent's changed set."""
    return (agent.head, agent.branch, _stat_key(agent.git_dir / "index"))


def _repo_signature(common_dir: Path) -> tuple[object, ...]:
    """Repository-wide settings that change which files count as untracked."""
    return (_stat_key(common_dir / "info" / "exclude"), _stat_key(common_dir / "config"))


def _files_in(directory: str, root: str) -> list[str]:
    """Relative paths of the files directly in `directory`."""
    try:
        with os.scandir(directory) as entries:
            return [os.path.relpath(e.path, root).replace(os.sep, "/") for e in entries
                    if not e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _overlap_key(overlap: Overlap) -> str:
    return f"{overlap.path}:{','.join(overlap.agents)}"


def _overlap_title(overlap: Overlap) -> str:
    agents = overlap.agents
    names = " and ".join(agents) if len(agents) <= 2 else \
        f"{', '.join(agents[:-1])} and {agents[-1]}"
    return f"{overlap.path}: edited by {names}"


def _conflict_ranges(prediction: Prediction) -> str:
    ranges = [f"{h.agents[0]} lines {h.ours_lines[0]}-{h.ours_lines[1]}, "
              f"{h.agents[1]} lines {h.theirs_lines[0]}-{h.theirs_lines[1]}"
              for h in prediction.hunks[:3]]
    return f" ({'; '.join(ranges)})" if ranges else ""


def reclassified_message(overlap: Overlap, prediction: Prediction) -> tuple[str, str]:
    """The notification for an overlap that was a clean merge and now conflicts."""
    return _overlap_title(overlap), \
        f"Will now conflict when merged{_conflict_ranges(prediction)}; it was a clean merge."


def overlap_message(overlap: Overlap, prediction: Prediction) -> tuple[str, str]:
    """The notification title (file and agents) and body (will it conflict?)."""
    title = _overlap_title(overlap)
    if prediction.classification == CONFLICT:
        body = f"Will conflict when merged{_conflict_ranges(prediction)}. " \
            f"{overlap.first_agent} was first."
    else:
        body = f"Clean merge predicted: the edits do not conflict. {overlap.first_agent} " \
               "was first."
    return title, body
