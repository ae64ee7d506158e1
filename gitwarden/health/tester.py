"""Running one check on one commit in the scratch worktree and recording the run.

A result belongs to (check, tree, check config): a commit whose tree was already checked with
the same command, environment and timeout gets the recorded outcomes back, whichever agent,
base or integration commit they were run for. Each question about a tree in one tester first
uses up the recorded outcomes of that tree (newest first), then runs for real: a confirmation
re-run of a recorded failure is a second observation, never the same one read twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gitwarden.config import HealthCheck
from gitwarden.git.commits import (
    tree_of,
)
from gitwarden.health import table as health_state
from gitwarden.health.outcomes import Outcome
from gitwarden.health.results import (
    INTEGRATION,
)
from gitwarden.health.runner import CheckRun, run_on_commit
from gitwarden.store.db import Store

if TYPE_CHECKING:
    from gitwarden.agents.workspace import Workspace


def check_config_hash(check: HealthCheck, default_timeout: float) -> str:
    """What makes two runs of a check on one tree the same run: command, env, timeout."""
    timeout = check.timeout if check.timeout is not None else default_timeout
    text = json.dumps([check.command, sorted(check.env), timeout])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class CommitTester:
    """Runs one check on a commit in a scratch worktree and records the run, reusing the
    recorded results of the same tree and check config. `before_run` is called before each
    question (it may raise to stop the investigation); `should_stop` is polled while a check
    runs and kills it when True."""

    def __init__(self, workspace: Workspace, store: Store, check: HealthCheck,
                 agent: str | None, trigger: str, *,
                 before_run: Callable[[str], object] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.workspace = workspace
        self.store = store
        self.check = check
        self.agent = agent
        self.trigger = trigger
        self.before_run = before_run
        self.should_stop = should_stop
        self.config_hash = check_config_hash(check, workspace.config.health.timeout)
        self.last_failure: CheckRun | None = None
        self.runs: list[CheckRun] = []
        self._recorded: dict[str, list[health_state.PastRun]] = {}  # tree -> not yet used

    @property
    def real_runs(self) -> int:
        return sum(1 for run in self.runs if run.reused is None)

    @property
    def reused(self) -> list[health_state.PastRun]:
        return [run.reused for run in self.runs if run.reused is not None]

    def __call__(self, commit: str, *, tree: str | None = None,
                 before_checkout: Callable[[], object] | None = None) -> Outcome:
        """The outcome of the check on `commit`. A commit not yet in the repository (a
        candidate built in quarantine) comes with its `tree` and a `before_checkout` that
        puts it there: it is only called when the check really runs."""
        if self.before_run is not None:
            self.before_run(commit)
        if tree is None:
            tree = tree_of(self.workspace.repo.main_worktree, commit)
        first = tree is not None and tree not in self._recorded
        run = self._from_record(tree) if tree is not None else None
        if run is None:
            # a first question may be answered by a run of the same tree that ends while
            # this one waits for the same-run lock or the build slot
            again = (lambda: self._reload(tree)) if first and tree is not None else None

            def record(done: CheckRun) -> None:
                health_state.record_run(
                    self.store, agent=self.agent, trigger=self.trigger, check=self.check.name,
                    commit=commit, tree=tree, outcome=done.outcome, exit_code=done.exit_code,
                    timed_out=done.timed_out, duration=done.duration,
                    log_path=str(done.log_path), config_hash=self.config_hash)

            run = run_on_commit(self.workspace.repo, self.workspace.config.health, self.check,
                                commit, self.agent or INTEGRATION, reuse=again,
                                should_stop=self.should_stop, on_result=record,
                                before_checkout=before_checkout,
                                same_run_key=f"{self.check.name} {tree} {self.config_hash}"
                                if tree is not None else None)
        self.runs.append(run)
        if run.outcome == "fail":
            self.last_failure = run
        return run.outcome

    def known(self, commit: str) -> Outcome | None:
        """The newest recorded outcome of `commit`'s tree, without running anything."""
        tree = tree_of(self.workspace.repo.main_worktree, commit)
        if tree is None:
            return None
        past = health_state.past_runs(self.store, self.check.name, tree, self.config_hash,
                                      limit=1)
        return _outcome(past[0].outcome) if past else None

    def _from_record(self, tree: str) -> CheckRun | None:
        """The next unused recorded outcome of `tree` (recorded outcomes are read at the
        first question about the tree)."""
        if tree not in self._recorded:
            self._recorded[tree] = health_state.past_runs(self.store, self.check.name, tree,
                                                          self.config_hash)
        waiting = self._recorded[tree]
        if not waiting:
            return None
        past = waiting.pop(0)
        return CheckRun(check=self.check.name, outcome=_outcome(past.outcome),
                        exit_code=past.exit_code, timed_out=False, duration=0.0,
                        log_path=Path(past.log_path or os.devnull), reused=past)

    def _reload(self, tree: str) -> CheckRun | None:
        del self._recorded[tree]
        return self._from_record(tree)


def _outcome(text: str) -> Outcome:
    return "pass" if text == "pass" else "skip" if text == "skip" else "fail"
