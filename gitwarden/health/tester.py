"""Running one check on one commit in the scratch worktree and recording the run."""

from __future__ import annotations

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


class CommitTester:
    """Runs one check on a commit in a scratch worktree and records the run."""

    def __init__(self, workspace: Workspace, store: Store, check: HealthCheck,
                 agent: str | None, trigger: str) -> None:
        self.workspace = workspace
        self.store = store
        self.check = check
        self.agent = agent
        self.trigger = trigger
        self.last_failure: CheckRun | None = None
        self.runs: list[CheckRun] = []

    def __call__(self, commit: str) -> Outcome:
        run = run_on_commit(self.workspace.repo, self.workspace.config.health, self.check,
                            commit, self.agent or INTEGRATION)
        self.runs.append(run)
        if run.outcome == "fail":
            self.last_failure = run
        health_state.record_run(
            self.store, agent=self.agent, trigger=self.trigger, check=self.check.name,
            commit=commit, tree=tree_of(self.workspace.repo.main_worktree, commit),
            outcome=run.outcome,
            exit_code=run.exit_code, timed_out=run.timed_out, duration=run.duration,
            log_path=str(run.log_path))
        return run.outcome
