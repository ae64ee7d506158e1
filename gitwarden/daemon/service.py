"""`gitwarden watch`: the daemon's main loop, signals, jobs and control requests."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.backups import prune_saved
from gitwarden.checkpoints.rollback import prune
from gitwarden.config import Config, load_config
from gitwarden.control.socket import ControlServer, DaemonLock
from gitwarden.daemon.channels import channels_for
from gitwarden.daemon.checkpoint_timer import CheckpointTimer
from gitwarden.daemon.delivery import NotificationDispatcher
from gitwarden.daemon.heap import TRIM_INTERVAL, limit_arenas, release_memory
from gitwarden.daemon.jobs import Jobs
from gitwarden.daemon.landing_jobs import LAND_QUEUE_INTERVAL, LandingJobs
from gitwarden.daemon.logs import setup_logging
from gitwarden.daemon.manual_checkpoint import ManualCheckpoints
from gitwarden.daemon.notify import NotificationGate, SafeSender
from gitwarden.daemon.pending import PendingPaths
from gitwarden.daemon.pipeline import PERIODIC, Pipeline
from gitwarden.daemon.remote_job import RemoteJob
from gitwarden.daemon.scheduler import JobScheduler
from gitwarden.daemon.sdnotify import SdNotifier
from gitwarden.errors import ConfigError, GitwardenError
from gitwarden.git import lockfiles
from gitwarden.git.objects import bound_libgit2_memory
from gitwarden.health.logs import prune_logs
from gitwarden.store.activity import prune_activity
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event
from gitwarden.upkeep.objects import tidy_objects
from gitwarden.upkeep.retention import apply_retention
from gitwarden.views.context_refresh import CONTEXT_EXCLUDES, ensure_excluded

log = logging.getLogger("gitwarden.daemon")

STALE_LOCKS_INTERVAL = 30.0
PRUNE_INTERVAL = 600.0
PRUNE_CHECKPOINTS_INTERVAL = 600.0


def _sd_notifier() -> SdNotifier:
    return SdNotifier.from_environ()


# Answers the daemon gives for layers above it (the hook and guard calls of the commands
# layer): command name -> handler(request, repository's common dir).
Answers = dict[str, Callable[[dict[str, Any], Path], dict[str, Any]]]


def run_daemon(workspace_dir: Path, *, json_log: bool = False,
               answers: Answers | None = None) -> int:
    """Run the watch daemon for the repository containing `workspace_dir` until stopped."""
    limit_arenas()  # before any thread starts: an arena, once made, stays
    setup_logging(json_log)
    bound_libgit2_memory()
    workspace = Workspace.load(workspace_dir)
    state_dir = workspace.repo.ensure_state_dir()
    lock = DaemonLock(state_dir)
    lock.acquire()
    daemon = Daemon(workspace, answers)
    try:
        code = daemon.run()
    finally:
        lock.release()
    if daemon.abandoned_work:
        # Worker threads (a long health check) would keep the process alive past SIGTERM.
        logging.shutdown()
        os._exit(code)
    return code


class Wakeup:
    """Wakes the main thread: from other threads, and on signals.

    A signal may be delivered to any thread; Python then runs its handler only once the main
    thread wakes up. A main thread blocked on a threading.Event would sleep through SIGTERM,
    so it waits on a pipe that the C-level handler writes to (signal.set_wakeup_fd).
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wake_on_signals(self) -> None:
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)

    def set(self) -> None:
        with contextlib.suppress(OSError):  # full (already awake) or closed (stopped)
            os.write(self._write, b"\0")

    def wait(self, timeout: float | None) -> None:
        select.select([self._read], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        os.close(self._read)
        os.close(self._write)


class Daemon:
    def __init__(self, workspace: Workspace, answers: Answers | None = None) -> None:
        self.workspace = workspace
        self.answers = dict(answers or {})
        self.repo = workspace.repo
        self.config: Config = workspace.config
        self.sd = _sd_notifier()
        self.scheduler = JobScheduler()
        self.gate = NotificationGate(self.config.notifications)
        self.sender = SafeSender(channels_for(self.config.notifications.command,
                                              self.config.notifications.desktop))
        self.dispatcher = NotificationDispatcher(self.repo, self.gate, self.sender)
        pending = PendingPaths()
        self.pipeline = Pipeline(workspace, Jobs(self.repo, lambda: self.config, pending),
                                 pending,
                                 on_polling=self._polling_changed,
                                 on_event_recorded=self.dispatcher.wake,
                                 on_local_change=lambda: self.remote.poke())
        self.jobs = self.pipeline.jobs
        self.checkpoints = CheckpointTimer(pending, self._checkpoint_interval, self.jobs.checkpoint)
        self._checkpoint_tick: float | None = None
        self.landing = LandingJobs(self.repo, lambda: self.config,
                                   lambda: self.pipeline.post("reconcile"))
        self.remote = RemoteJob(lambda: Workspace(repo=self.repo, config=self.config),
                                lambda: self.config, self.pipeline)
        self.manual = ManualCheckpoints(self.repo, self.pipeline, lambda: self.config)
        self.control = ControlServer(self.repo.state_dir, self._request)
        self._wake = Wakeup()
        self._stop_signal: int | None = None
        self._reload_requested = False
        self.abandoned_work = False

    # --- lifecycle ---------------------------------------------------------------------------

    def run(self) -> int:
        self._install_signals()
        # Written now, not at the first context refresh: a change of info/exclude makes the
        # next reconcile re-read every agent from git (what is untracked may have changed).
        ensure_excluded(self.repo.common_dir, CONTEXT_EXCLUDES)
        self.dispatcher.start()
        self.pipeline.start()
        self.pipeline.call("start", timeout=600)
        if self.pipeline.startup_error:
            self.pipeline.stop()
            self.dispatcher.stop()
            raise GitwardenError(f"cannot start watching: {self.pipeline.startup_error}")
        self.control.start()
        self.scheduler.start()
        self._schedule_jobs()
        self._record(EventKind.DAEMON_STARTED,
                     f"watching {len(self.pipeline.snapshot()['agents'])} "
                     f"agent(s), pid {os.getpid()}")
        log.info("gitwarden daemon ready (pid %d, %d %s watches)", os.getpid(),
                 self.pipeline.watcher.count, self.pipeline.watcher.kind)
        self.sd.ready()
        self._publish_status()
        try:
            self._main_loop()
        finally:
            self._shutdown()
        return 0

    def _main_loop(self) -> None:
        interval = self.sd.watchdog_interval
        last_ping = time.monotonic()
        while self._stop_signal is None:
            self._wake.wait(interval)
            if self._reload_requested:
                self._reload_requested = False
                self.reload()
            if interval and time.monotonic() - last_ping >= interval * 0.9:
                self.sd.watchdog()
                last_ping = time.monotonic()

    def _shutdown(self) -> None:
        name = signal.Signals(self._stop_signal).name if self._stop_signal else "request"
        log.info("stopping (%s)", name)
        self.sd.stopping()
        self.scheduler.stop()
        self.remote.close()
        self.control.stop()
        self.pipeline.stop()
        self.abandoned_work = not self.jobs.close()
        self._record(EventKind.DAEMON_STOPPED, f"stopped by {name}")
        self.dispatcher.stop()
        self.sender.close()
        self._wake.close()

    def _install_signals(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            self._stop_signal = signum
            self._wake.set()

        def reload(_signum: int, _frame: FrameType | None) -> None:
            self._reload_requested = True
            self._wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        self._wake.wake_on_signals()

    # --- config reload -----------------------------------------------------------------------

    def reload(self) -> bool:
        """Reload gitwarden.toml; an invalid file keeps the last good config."""
        self.sd.reloading()
        try:
            config = load_config(self.repo.config_path)
        except ConfigError as exc:
            log.error("config not reloaded, keeping the last good one: %s", exc.message)
            self._record(EventKind.CONFIG_ERROR, f"config not reloaded: {exc.message}",
                         severity="error")
            self.sd.ready()
            return False
        previous = self.config
        try:
            self._apply_config(config)
        except Exception as exc:  # the daemon must outlive any config it cannot apply
            log.exception("config could not be applied, keeping the last good one")
            self._record(EventKind.CONFIG_ERROR, f"config not applied: {exc}", severity="error")
            self._apply_config(previous)
            self.sd.ready()
            return False
        log.info("config reloaded")
        self._record(EventKind.CONFIG_RELOADED, "configuration reloaded")
        self.sd.ready()
        self._publish_status()
        return True

    def _apply_config(self, config: Config) -> None:
        self.config = config
        self.gate.config = config.notifications
        self.sender.channels = channels_for(config.notifications.command,
                                            config.notifications.desktop)
        self.pipeline.call("reload", config, timeout=600)
        self._schedule_jobs()

    # --- jobs --------------------------------------------------------------------------------

    def _schedule_jobs(self) -> None:
        watch = self.config.watch
        self.scheduler.every("reconcile", watch.reconcile_interval, self._reconcile_job)
        # These also run right away: locks of holders killed, checkpoints and health logs
        # piled up while the daemon was down are dealt with at start, not one interval later.
        self.scheduler.every("prune-activity", PRUNE_INTERVAL, self._prune_job, now=True)
        retention = self.config.retention
        self.scheduler.every("retention", retention.interval, self._retention_job, now=True)
        self.scheduler.every("repack", retention.repack_interval, self._repack_job)
        self.scheduler.every("release-memory", TRIM_INTERVAL, release_memory)
        self.scheduler.every("release-stale-locks", STALE_LOCKS_INTERVAL,
                             self.jobs.release_stale_locks, now=True)
        self.scheduler.every("prune-checkpoints", PRUNE_CHECKPOINTS_INTERVAL,
                             self._prune_checkpoints_job, now=True)
        self.scheduler.every("remove-stale-ref-locks", STALE_LOCKS_INTERVAL,
                             self._stale_ref_locks_job, now=True)
        if self.pipeline.watcher.kind == "polling":
            self.scheduler.every("poll:git", watch.poll_interval, self.pipeline.post, "poll-git")
        self._schedule_checkpoints(replace=True)
        self.scheduler.every("land-queue", LAND_QUEUE_INTERVAL, self.landing.land_queue, now=True)
        self.scheduler.every("auto-sync", min(60.0, max(1.0, self.config.sync.idle / 4)),
                             self.landing.auto_sync)
        if self.config.base_sync.remote:
            self.scheduler.every("fetch-base", self.config.base_sync.fetch_interval,
                                 self.landing.fetch_base, now=True)
        else:
            self.scheduler.remove("fetch-base")
        if self.config.remote is not None:
            self.scheduler.every("remote-sync", self.config.remote.interval,
                                 self.remote.run_logged, now=True)
        else:
            self.scheduler.remove("remote-sync")

    def _schedule_checkpoints(self, *, replace: bool = False) -> None:
        """One timer for all agents, at the shortest interval (rescheduled only when that
        changes: rescheduling restarts the interval)."""
        names = [agent["name"] for agent in self.pipeline.snapshot()["agents"]]
        self.checkpoints.keep_only(names)
        tick = min((self._checkpoint_interval(name) for name in names),
                   default=self.config.checkpoints.interval)
        if replace or tick != self._checkpoint_tick:
            self._checkpoint_tick = tick
            self.scheduler.every("checkpoints", tick, self.checkpoints.tick)

    def _checkpoint_interval(self, name: str) -> float:
        return self.config.agent(name).checkpoint_interval or self.config.checkpoints.interval

    def _reconcile_job(self) -> None:
        self.pipeline.call("reconcile", PERIODIC, timeout=600)
        self._schedule_checkpoints()
        self._publish_status()

    def _prune_job(self) -> None:
        watch = self.config.watch
        health = self.config.health
        with Store.open(self.repo) as store:
            removed = prune_activity(store, older_than=time.time() - watch.activity_retention,
                                     max_rows=watch.activity_max_rows)
            logs = prune_logs(self.repo, store, keep=health.keep_logs,
                              max_age=health.keep_logs_age)
            if logs.dropped:
                record_event(store, EventKind.HEALTH_LOGS_PRUNED,
                             f"dropped {len(logs.dropped)} old health log(s), kept {logs.kept}",
                             data={"dropped": len(logs.dropped), "kept": logs.kept})
        if removed:
            log.info("pruned %d activity row(s)", removed)
        if logs.dropped:
            log.info("pruned %d health log(s)", len(logs.dropped))

    def _retention_job(self) -> None:
        """[retention]: old rows out of every growing table, and the file shrunk."""
        with Store.open(self.repo) as store:
            apply_retention(self.repo, self.config, store)

    def _repack_job(self) -> None:
        """Loose objects (gitwarden's checkpoints among them) rolled into packs."""
        with Store.open(self.repo) as store:
            tidy_objects(self.repo, self.config, store)

    def _prune_checkpoints_job(self) -> None:
        """Apply checkpoint retention (checkpoints.keep, keep_clean_days) to every agent."""
        workspace = Workspace(repo=self.repo, config=self.config)
        try:
            agents = workspace.agents
        except GitwardenError as exc:
            log.warning("cannot list agents to prune their checkpoints: %s", exc)
            return
        with Store.open(self.repo) as store:
            for agent in agents:
                try:
                    result = prune(workspace, store, agent)
                except Exception as exc:
                    log.warning("pruning the checkpoints of %s failed: %s", agent.name, exc)
                    continue
                if result.dropped:
                    log.info("pruned %d checkpoint(s) of %s, kept %d", result.dropped,
                             agent.name, result.kept)
                    record_event(store, EventKind.CHECKPOINT_PRUNED,
                                 f"dropped {result.dropped} old checkpoint(s) of {agent.name}, "
                                 f"kept {result.kept}", agent=agent.name,
                                 data={"dropped": result.dropped, "kept": result.kept,
                                       "tip": result.tip})
            try:  # removed agents' chains, backup refs and the stash ([checkpoints] retention)
                backups, freed = prune_saved(workspace, store)
            except Exception as exc:
                log.warning("pruning backups and the stash failed: %s", exc)
            else:
                if backups or freed:
                    log.info("pruned %d backup(s) and %d stash byte(s)", backups, freed)

    def _stale_ref_locks_job(self) -> None:
        """Lock files of gitwarden's own refs (refs/gitwarden/) that a killed writer left:
        older than a minute and open in no process. Other git locks are the user's call."""
        stale = lockfiles.stale_lock_files(self.repo.common_dir, own_refs_only=True)
        for path in lockfiles.remove(stale):
            self._record(EventKind.LOCKFILE_REMOVED,
                         f"removed stale ref lock {path} (held by no process)")
            log.info("removed stale ref lock %s (held by no process)", path)

    def _polling_changed(self, agent: str, polling: bool) -> None:
        job_id = f"poll:{agent}"
        if polling:
            self.scheduler.every(job_id, self.config.watch.poll_interval,
                                 self.pipeline.post, "poll", agent)
        else:
            self.scheduler.remove(job_id)

    # --- control socket and status -----------------------------------------------------------

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("command")
        if isinstance(command, str) and command in self.answers:
            return self.answers[command](request, self.repo.common_dir)
        if command == "ping":
            return {"ok": True, "pid": os.getpid()}
        if command == "status":
            return {"ok": True, **self.pipeline.snapshot(),
                    "notifications_delivered": self.dispatcher.delivered}
        if command == "reconcile":
            self.pipeline.call("reconcile", timeout=600)
            return {"ok": True, **self.pipeline.snapshot()}
        if command == "flush":
            self.pipeline.call("flush", timeout=60)
            return {"ok": True, **self.pipeline.snapshot()}
        if command == "unwatch":
            self.pipeline.call("unwatch", str(request.get("agent")), timeout=60)
            return {"ok": True, **self.pipeline.snapshot()}
        if command == "reload":
            return {"ok": self.reload()}
        if command == "take-checkpoint":  # `gitwarden checkpoint` (control/checkpoint_client)
            return self.manual.answer(request)
        if command == "checkpoint":
            for agent in self.pipeline.snapshot()["agents"]:
                self.jobs.checkpoint(agent["name"])
            return {"ok": True}
        if command == "remote-sync":
            self.remote.run()
            report = self.remote.last_report
            return {"ok": report is not None and report.reachable,
                    "error": report.error if report else "no [remote] in gitwarden.toml"}
        if command == "stop":
            self._stop_signal = signal.SIGTERM
            self._wake.set()
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {command!r}"}

    def _publish_status(self) -> None:
        snapshot = self.pipeline.snapshot()
        conflicts = sum(1 for o in snapshot["overlaps"] if o["classification"] == "conflict")
        self.sd.status(f"{len(snapshot['agents'])} agents, {len(snapshot['overlaps'])} "
                       f"overlaps ({conflicts} conflicting)")

    def _record(self, kind: EventKind, message: str, severity: str = "info") -> None:
        try:
            with Store.open(self.repo) as store:
                record_event(store, kind, message, severity=severity)
        except (GitwardenError, OSError) as exc:
            log.error("cannot record event %s: %s", kind, exc)
