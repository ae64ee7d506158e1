"""`gitwarden checkpoint` answered by the daemon: the checkpoint taken from what it holds.

Every file write completed before the CLI was invoked is in the checkpoint. Before taking it
the daemon shows that it has seen them:
1. fence: a cookie file created in a private directory that the inotify instance watches; once
   its event is read, every earlier event is in the pipeline's queue (inotify_watcher.fence),
   and the files written through descriptors still open are known (they are re-read too);
2. settle: a command queued behind those events; once the pipeline answers it, their paths
   are pending (and the agents whose events could not be applied are known);
3. claim, under the agent's checkpoint lock (no timer checkpoint of it halfway): the pending
   paths and any full checkpoint due (one is when another writer moved the chain: daemon/jobs);
   then a checkpoint of those paths on top of the recorded base, or a full scan where
   checkpoints.freshness does not trust that base.
It scans in full instead (still correct) when the queue overflowed since the agent's last full
scan, the agent's events are unsettled, its worktree is polled or not watched whole
(`[watch] ignore`), it is not watched yet, or the fence or the settle did not finish in time.
A watcher without one ordered event queue (watchdog's observers, polling) leaves the call to
the CLI's direct path, and so do a configuration or git environment the daemon does not share
and a transaction to recover. Who may checkpoint whom, and the text printed, come from
checkpoints.manual, as in the direct path.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.journal import has_pending
from gitwarden.checkpoints.manual import exit_code, render, select_agents
from gitwarden.checkpoints.take import CheckpointResult, take_checkpoint
from gitwarden.config import Config, load_config
from gitwarden.control import client
from gitwarden.control.checkpoint_client import snapshot_env
from gitwarden.daemon.pipeline import Pipeline
from gitwarden.errors import ConfigError, GitwardenError
from gitwarden.git.repository import Repo
from gitwarden.output import error_line

log = logging.getLogger("gitwarden.daemon")

FENCE_TIMEOUT = 5.0
SETTLE_TIMEOUT = 30.0
COOKIE_DIR = "cookies"  # in the state dir (0700)

Settled = tuple[set[str], set[str], set[str]]  # agents watched, unsettled, polled


class FencedWatcher(Protocol):
    """The inotify watcher (daemon/inotify_watcher.py; not imported here: it cannot be on a
    platform without inotify)."""

    overflows: int

    def fence(self, directory: str, timeout: float) -> bool: ...

    def open_writes(self) -> set[str]: ...


def decline(why: str) -> dict[str, Any]:
    """The client takes the checkpoint itself."""
    return {"ok": False, "error": why}


class ManualCheckpoints:
    """Answers `take-checkpoint` requests on the control socket's threads."""

    def __init__(self, repo: Repo, pipeline: Pipeline, config: Callable[[], Config]) -> None:
        self.repo = repo
        self.pipeline = pipeline
        self._config = config
        self._overflows_seen: dict[str, int] = {}  # agent -> overflows at its last full scan

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        names, all_agents, clean, as_json = (request.get("agents"), request.get("all"),
                                             request.get("clean"), request.get("json"))
        cwd, message, env = request.get("cwd"), request.get("message"), request.get("env")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or \
                not isinstance(cwd, str) or not isinstance(env, dict) or \
                not (message is None or isinstance(message, str)) or \
                not all(isinstance(v, bool) for v in (all_agents, clean, as_json)):
            return decline("bad checkpoint request")
        if self.pipeline.watcher.kind != "inotify":
            return decline("this daemon's watcher has no event queue to fence")
        watcher = cast(FencedWatcher, self.pipeline.watcher)
        if snapshot_env(env) != snapshot_env(os.environ):
            return decline("the caller's git environment is not the daemon's")
        found = client.worktree_top(cwd) if os.path.isdir(cwd) else None
        if found is None or os.path.realpath(found[1]) != \
                os.path.realpath(self.repo.common_dir):
            return decline("not a worktree of this daemon's repository")
        config = self._config()
        try:
            if load_config(self.repo.config_path) != config:
                return decline("gitwarden.toml changed since the daemon read it")
        except ConfigError:
            return decline("gitwarden.toml does not load")
        workspace = Workspace(repo=self.repo, config=config)
        try:
            agents = select_agents(workspace, names, bool(all_agents), bool(clean),
                                   Path(found[0]))
            if any(has_pending(workspace, agent.name) for agent in agents):
                return decline("a transaction to recover first")
            results = self._take(workspace, agents, message, bool(clean), watcher)
        except GitwardenError as exc:
            return {"ok": True, "exit": exc.exit_code, "stdout": "",
                    "stderr": error_line(exc.message)}
        out, err = render(results, message=message, clean=bool(clean), as_json=bool(as_json))
        return {"ok": True, "exit": exit_code(results), "stdout": out, "stderr": err}

    def _take(self, workspace: Workspace, agents: list[Agent], message: str | None,
              clean: bool, watcher: FencedWatcher) -> list[CheckpointResult]:
        started = time.monotonic()
        fenced = watcher.fence(str(self.repo.state_dir / COOKIE_DIR), FENCE_TIMEOUT)
        fenced_at = time.monotonic()
        settled: Settled | None = None
        if fenced:
            settled = self.pipeline.call("settle", timeout=SETTLE_TIMEOUT)
        if settled is None:
            log.warning("file events not settled in time: the checkpoint scans in full")
        open_writes = watcher.open_writes()
        jobs = self.pipeline.jobs
        results = []
        settled_at = time.monotonic()
        for agent in agents:
            begun = time.monotonic()
            with jobs.checkpoint_lock(agent.name):
                overflows = watcher.overflows
                full_due, paths = jobs.claim_checkpoint(agent.name)
                full = full_due or self._unsure(agent.name, settled, overflows)
                changed = (paths or set()) | _under(agent.path, open_writes)
                try:
                    result = take_checkpoint(
                        workspace, agent, changed_paths=None if full else sorted(changed),
                        message=message, clean=clean, kind="manual")
                except BaseException:
                    jobs.unclaim_checkpoint(agent.name, full_due, paths)
                    raise
                if result.status == "skipped":
                    jobs.unclaim_checkpoint(agent.name, full_due, paths)
                else:
                    jobs.checkpoint_taken(agent.name, result)
                    if full:
                        self._overflows_seen[agent.name] = overflows
            log.info("checkpoint of %s for the CLI: %s (%s; fence %.1f ms, events applied "
                     "%.1f ms, checkpoint %.1f ms)", agent.name, result.status,
                     "full" if full else f"{len(changed)} path(s)",
                     (fenced_at - started) * 1000, (settled_at - fenced_at) * 1000,
                     (time.monotonic() - begun) * 1000)
            results.append(result)
        return results

    def _unsure(self, name: str, settled: Settled | None, overflows: int) -> bool:
        """Whether the daemon may have missed a change of agent `name`: then it scans."""
        if settled is None or self._config().watch.ignore:
            return True
        watched, unsettled, polled = settled
        return name not in watched or name in unsettled or name in polled or \
            overflows != self._overflows_seen.get(name, 0)


def _under(root: Path, paths: set[str]) -> set[str]:
    """The paths inside the worktree `root`, relative to it (with '/'); git's own files (the
    main worktree's `.git`) are never the agent's."""
    prefix = str(root).rstrip(os.sep) + os.sep
    inside = (path[len(prefix):].replace(os.sep, "/") for path in paths
              if path.startswith(prefix))
    return {rel for rel in inside if rel.split("/", 1)[0] != ".git"}
