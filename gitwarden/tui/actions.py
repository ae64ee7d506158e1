"""What a key in `gitwarden top` does: the functions the CLI commands call, as the user.

`p` is `gitwarden pause AGENT`, `r` is `resume`, `c` is `checkpoint AGENT`, `b` is `rollback
AGENT` (the plan first, applied only after a confirmation). Each is recorded in the event log
as done by the user, like the command. Keys act only when `top` runs as the user: started
inside an agent's worktree (or with GITWARDEN_AGENT set) it is a view and refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitwarden.agents.caller import current_agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.rollback import find_checkpoint, preview_rollback, rollback
from gitwarden.checkpoints.rollback_plan import RollbackPlan
from gitwarden.checkpoints.take import take_checkpoint
from gitwarden.coordination.pausing import apply_pause, apply_resume
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.output import short
from gitwarden.store.db import Store
from gitwarden.views.context_refresh import refresh_context_files
from gitwarden.views.plans import describe_plan

PAUSE_REASON = "paused by the user (gitwarden top)"


@dataclass(frozen=True)
class RollbackProposal:
    """A rollback plan shown to the user; applying it re-checks nothing moved meanwhile."""

    agent: str
    plan: RollbackPlan
    lines: list[str]


class UserActions:
    """The user's actions on agents, on one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        caller = current_agent(workspace)
        self.refused_because = (
            None if caller is None else
            f"top runs as agent {caller.name} (its worktree or GITWARDEN_AGENT): actions are "
            "the user's; start `gitwarden top` from the main worktree")

    def _check_user(self) -> None:
        if self.refused_because:
            raise UsageError(self.refused_because)

    def pause(self, name: str) -> str:
        self._check_user()
        agent = self.workspace.agent(name)
        with Store.open(self.workspace.repo) as store:
            apply_pause(self.workspace, store, agent.name, PAUSE_REASON, by="user")
            refresh_context_files(self.workspace, store)
        return f"paused {agent.name}"

    def resume(self, name: str) -> str:
        self._check_user()
        agent = self.workspace.agent(name)
        with Store.open(self.workspace.repo) as store:
            was = apply_resume(self.workspace, store, agent.name)
            refresh_context_files(self.workspace, store)
        return f"resumed {agent.name}" if was else f"{agent.name} was not paused"

    def checkpoint(self, name: str) -> str:
        self._check_user()
        agent = self.workspace.agent(name)
        result = take_checkpoint(self.workspace, agent, kind="manual")
        if result.status == "created":
            return f"{result.agent}: checkpoint {short(result.commit)}"
        if result.status == "unchanged":
            return f"{result.agent}: unchanged ({short(result.commit)})"
        raise GitwardenError(f"{result.agent}: skipped: {result.reason}")

    def propose_rollback(self, name: str) -> RollbackProposal:
        """The dry run of `gitwarden rollback NAME`: nothing is changed."""
        self._check_user()
        agent = self.workspace.agent(name)
        if not agent.exists:
            raise UsageError(f"agent {agent.name}: worktree missing: {agent.path}")
        with Store.open(self.workspace.repo) as store:
            target = find_checkpoint(self.workspace, store, agent, None)
        plan = preview_rollback(self.workspace, agent, target)
        return RollbackProposal(agent.name, plan, describe_plan(plan))

    def apply_rollback(self, proposal: RollbackProposal) -> str:
        """`gitwarden rollback NAME --yes` to the proposal's target."""
        self._check_user()
        agent = self.workspace.agent(proposal.agent)
        with Store.open(self.workspace.repo) as store:
            outcome = rollback(self.workspace, store, agent, proposal.plan.target)
        return (f"{agent.name}: restored {short(proposal.plan.target.commit)}; safety "
                f"checkpoint {short(outcome.safety)}; undo with `gitwarden rollback "
                f"{agent.name} --undo --yes`")
