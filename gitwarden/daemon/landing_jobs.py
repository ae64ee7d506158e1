"""The daemon's landing jobs: fetch the base from its remote, land what `land --no-wait` (or
`done` with `[land] on_done`) queued, and sync idle agents when `[sync] auto` allows it. Each
runs on the scheduler's threads with its own Store; a failure is logged, never fatal."""

from __future__ import annotations

import logging
from collections.abc import Callable

from gitwarden.agents.workspace import Workspace
from gitwarden.config import Config
from gitwarden.coordination import pauses
from gitwarden.errors import GitwardenError
from gitwarden.git.repository import Repo
from gitwarden.git.runner import run_git
from gitwarden.landing import queue
from gitwarden.landing.land import process_queue
from gitwarden.landing.sync import apply_sync, idle_for, plan_sync
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event, record_notice
from gitwarden.views.context_refresh import refresh_context_files

log = logging.getLogger("gitwarden.landing")

LAND_QUEUE_INTERVAL = 2.0


class LandingJobs:
    def __init__(self, repo: Repo, config: Callable[[], Config],
                 base_moved: Callable[[], object]) -> None:
        self.repo = repo
        self._config = config
        self._base_moved = base_moved
        self._last_fetch_error: str | None = None
        self._last_refusal: str | None = None

    def _workspace(self) -> Workspace:
        return Workspace(repo=self.repo, config=self._config())

    def fetch_base(self) -> None:
        """Fetch the base branch into its remote-tracking ref only (no other ref, no
        FETCH_HEAD, no worktree): `git fetch` with GIT_OPTIONAL_LOCKS=0 like every git call."""
        workspace = self._workspace()
        remote = workspace.config.base_sync.remote
        if not remote:
            return
        branch = workspace.base_branch
        tracking = f"refs/remotes/{remote}/{branch}"
        before = self._ref(tracking)
        try:
            # No auto gc or commit-graph writes: nothing but the one ref changes.
            run_git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-auto-gc",
                     "--no-write-commit-graph",
                     "--no-recurse-submodules", remote, f"+refs/heads/{branch}:{tracking}"],
                    self.repo.main_worktree)
        except GitwardenError as exc:
            if exc.message != self._last_fetch_error:
                self._last_fetch_error = exc.message
                with Store.open(self.repo) as store:
                    record_event(store, EventKind.BASE_FETCH_FAILED,
                                 f"cannot fetch {branch} from {remote}: {exc.message}",
                                 severity="warning")
            log.warning("cannot fetch %s from %s: %s", branch, remote, exc.message)
            return
        self._last_fetch_error = None
        after = self._ref(tracking)
        if after != before:
            log.info("fetched %s/%s: %s", remote, branch, (after or "")[:10])
            with Store.open(self.repo) as store:
                record_event(store, EventKind.BASE_FETCHED,
                             f"fetched {remote}/{branch} at {(after or '')[:10]}",
                             data={"from": before, "to": after})
            self._base_moved()

    def land_queue(self) -> None:
        with Store.open(self.repo) as store:
            if not queue.waiting(store):
                return
            workspace = self._workspace()
            try:
                report = process_queue(workspace, store, by="daemon")
            except GitwardenError as exc:
                level = logging.DEBUG if exc.message == self._last_refusal else logging.WARNING
                self._last_refusal = exc.message
                log.log(level, "landing stopped: %s", exc.message)
                record_notice(store, EventKind.LAND_REFUSED, f"landing stopped: {exc.message}",
                              title="gitwarden: landing stopped", dedup=f"land:{exc.message}")
                return
            self._last_refusal = None
            if report.landed or report.ejected:
                log.info("landing: landed %s, ejected %s", report.landed, list(report.ejected))
            refresh_context_files(workspace, store)

    def auto_sync(self) -> None:
        """Sync each idle agent whose sync would be clean, when `[sync] auto` is on."""
        config = self._config()
        if not config.sync.auto:
            return
        workspace = self._workspace()
        synced = False
        with Store.open(self.repo) as store:
            landing = {entry.agent for entry in queue.waiting(store)}
            for agent in workspace.agents:
                if agent.name in landing or not pauses.auto_actions_allowed(store, agent.name) or \
                        idle_for(store, agent.name) < config.sync.idle:
                    continue
                plan = plan_sync(workspace, agent)
                if plan.refusal or plan.up_to_date:
                    continue
                try:
                    apply_sync(workspace, store, agent, by="daemon")
                except GitwardenError as exc:
                    log.warning("automatic sync of %s not made: %s", agent.name, exc.message)
                    continue
                log.info("synced idle agent %s with the base", agent.name)
                synced = True
            if synced:
                refresh_context_files(workspace, store)

    def _ref(self, name: str) -> str | None:
        proc = run_git(["rev-parse", "--verify", "--quiet", name], self.repo.main_worktree,
                       check=False)
        return proc.stdout.decode().strip() or None
