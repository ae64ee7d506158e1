"""Health checks for agents: run, confirm, find the culprit, act by policy (the facade).

The daemon calls `on_agent_commit` (new commit on an agent's branch) and `on_checkpoint`
from worker threads; `gitwarden health --run` calls `run_health`. Commands come only from the
main worktree's gitwarden.toml, never from an agent's branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gitwarden.checkpoints.take import last_clean_commit, mark_clean
from gitwarden.config import HealthCheck
from gitwarden.errors import GitError, GitwardenError
from gitwarden.git.commits import (
    first_parent_commits_since,
    is_ancestor,
    parents,
)
from gitwarden.git.runner import run_git
from gitwarden.health import table as health_state
from gitwarden.health.acting import act_on_culprit
from gitwarden.health.branch import BranchWatch, Superseded
from gitwarden.health.config_guard import report_health_config_edit
from gitwarden.health.culprit import Investigation, investigate
from gitwarden.health.integration import (
    run_integration,
)
from gitwarden.health.outcomes import Verdict
from gitwarden.health.policy import (
    notify,
)
from gitwarden.health.results import (
    AgentHealth,
)
from gitwarden.health.runner import RunCancelled, ScratchError
from gitwarden.health.tester import CommitTester
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event, record_notice

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace

# Re-runs of a named culprit (and one of its parent) before an automatic revert: with a check
# that fails 30% of the time at random, a good commit is reverted with probability
# 0.3**(2 + REVERT_CONFIRMATIONS) * 0.7, about 5 in 10,000.
REVERT_CONFIRMATIONS = 4


# --- entry points ------------------------------------------------------------------------------

def on_agent_commit(workspace: Workspace, agent_name: str, old_head: str | None,
                    new_head: str) -> None:
    """A new commit on an agent's branch: check it, blame and act on a confirmed failure
    (as long as the commit stays on the branch)."""
    workspace = _fresh(workspace)
    with Store.open(workspace.repo) as store:
        agent = workspace.agent(agent_name)
        watch = BranchWatch(agent.path, agent.name, new_head)
        current = watch.current_head()
        if not watch.holds(new_head, current):
            health_state.clear_progress(store, agent.name, new_head)
            record_superseded(store, agent.name, new_head, current,
                              watch.left_message(new_head, current, "its check"))
            return
        report_health_config_edit(workspace, store, agent, old_head, new_head)
        result = check_agent_commit(workspace, store, agent, new_head, trigger="commit")
        if result.verdict == "pass" and workspace.config.health.integration:
            run_integration(workspace, store)


def on_checkpoint(workspace: Workspace, agent_name: str, checkpoint_commit: str) -> None:
    """A new checkpoint: check the snapshot; a pass marks it clean, a confirmed failure is
    reported (work in progress: nobody is paused or reverted for it)."""
    workspace = _fresh(workspace)
    with Store.open(workspace.repo) as store:
        try:
            check_checkpoint(workspace, store, workspace.agent(agent_name), checkpoint_commit)
        except (ScratchError, GitError) as exc:
            report_error(store, agent_name, checkpoint_commit, exc.message)


def _fresh(workspace: Workspace) -> Workspace:
    """The same repository and config with current worktree heads (the caller's copy may be
    older than the commit being checked)."""
    return type(workspace)(repo=workspace.repo, config=workspace.config)


def run_health(workspace: Workspace, agents: Sequence[Agent], *, store: Store,
               integration: bool | None = None) -> dict[str, Any]:
    """Check each agent's HEAD now (as if it had just committed), then the integration. A
    tree already checked with the same check config (another agent's HEAD, the base) is not
    run again: its result is reused and marked `cached`."""
    results = []
    for agent in agents:
        if agent.head is None or not agent.exists:
            results.append(AgentHealth(agent=agent.name, commit=None, verdict="none",
                                       detail="no commit to check"))
            continue
        results.append(check_agent_commit(workspace, store, agent, agent.head,
                                          trigger="manual", force=True))
    report: dict[str, Any] = {"agents": [r.as_json() for r in results]}
    wanted = workspace.config.health.integration if integration is None else integration
    if wanted:
        report["integration"] = run_integration(workspace, store).as_json()
    return report


# --- one agent -----------------------------------------------------------------------------

def check_agent_commit(workspace: Workspace, store: Store, agent: Agent, head: str, *,
                       trigger: str, force: bool = False) -> AgentHealth:
    """Check `head`, confirm, blame and act; stops as `superseded` the moment `head` leaves
    the agent's branch, and as `error` (recorded and notified) when the scratch worktree or
    git fails."""
    checks = workspace.config.health.checks
    if not checks:
        return AgentHealth(agent=agent.name, commit=head, verdict="none",
                           detail="no health checks configured")
    if not force and _already_passed(store, agent.name, head, checks):
        health_state.clear_progress(store, agent.name, head)
        return AgentHealth(agent=agent.name, commit=head, verdict="pass",
                           detail="already checked")
    watch = BranchWatch(agent.path, agent.name, head)
    health_state.set_progress(store, agent.name, head, "running")
    try:
        return _check_agent_commit(workspace, store, agent, head, trigger, watch)
    except Superseded as exc:
        record_superseded(store, agent.name, head, exc.head, exc.message, trigger=trigger,
                          checks=[c.name for c in checks])
        return AgentHealth(agent=agent.name, commit=head, verdict="superseded",
                           detail=exc.message)
    except RunCancelled:
        current = watch.current_head()
        message = watch.left_message(head, current, "its running check")
        record_superseded(store, agent.name, head, current, message, trigger=trigger,
                          checks=[c.name for c in checks])
        return AgentHealth(agent=agent.name, commit=head, verdict="superseded", detail=message)
    except (ScratchError, GitError) as exc:
        report_error(store, agent.name, head, exc.message, checks=[c.name for c in checks],
                     trigger=trigger)
        return AgentHealth(agent=agent.name, commit=head, verdict="error", detail=exc.message)
    finally:
        health_state.clear_progress(store, agent.name, head)


def _check_agent_commit(workspace: Workspace, store: Store, agent: Agent, head: str,
                        trigger: str, watch: BranchWatch) -> AgentHealth:
    checks = workspace.config.health.checks
    clean_point = _clean_point(workspace, agent, head)
    commits = first_parent_commits_since(workspace.repo.main_worktree, clean_point, head)
    if not commits:
        commits = [head]  # the head itself is the clean point: check it again
    policy = agent.settings.policy
    gate = REVERT_CONFIRMATIONS if policy == "revert" and agent.settings.auto_revert else 0
    result = AgentHealth(agent=agent.name, commit=head, verdict="pass")
    skipped: list[str] = []
    reused = True
    for check in checks:
        tester = CommitTester(workspace, store, check, agent.name, trigger,
                              before_run=lambda _commit: watch.ensure("the check"),
                              should_stop=watch.left)
        verifier = _BlameCheck(workspace, tester, agent.name, head, commits, clean_point)
        found = investigate(commits, tester, clean_point=clean_point, gate_runs=gate,
                            before_blame=verifier)
        result = _from_investigation(agent.name, head, check, found, tester)
        result.verify_runs = verifier.runs
        reused = reused and result.cached
        verdict_id = health_state.record_verdict(
            store, agent=agent.name, check=check.name, trigger=trigger, commit=head,
            verdict=found.verdict, culprit=found.culprit, candidates=found.candidates,
            runs=tester.real_runs, log_path=result.log_path, detail=found.reason,
            cached=result.cached)
        if found.verdict == "skip":
            skipped.append(check.name)
        if found.verdict in ("pass", "skip"):
            continue
        watch.ensure("the report")
        if found.verdict == "flaky":
            _report_flaky(store, result)
        elif found.verdict in ("base-broken", "preexisting"):
            _report_not_the_agents(store, result, found.verdict, verifier.failing or "")
        else:
            acting_head = _branch_as_it_is(watch, tester, head, found.culprit)
            act_on_culprit(workspace, store, agent, result, found, watch=watch,
                           head=acting_head)
            if result.action == "revert" and result.revert_commit:
                _verify_revert(workspace, store, agent, result.revert_commit)
        health_state.set_action(store, verdict_id, result.action or "none")
        return result
    if skipped:
        record_event(store, EventKind.HEALTH_SKIP, f"{agent.name}: {', '.join(skipped)} could not "
                     f"decide at {head[:10]} (exit 125)", agent=agent.name,
                     data={"commit": head, "checks": skipped})
        return AgentHealth(agent=agent.name, commit=head, verdict="skip", check=skipped[0],
                           cached=reused)
    cached_note = " (reused results of the same tree)" if reused else ""
    record_event(store, EventKind.HEALTH_PASS,
                 f"{agent.name}: health checks pass at {head[:10]}{cached_note}",
                 agent=agent.name, data={"commit": head, "trigger": trigger, "cached": reused})
    _mark_clean(workspace, store, agent.name, head)
    return AgentHealth(agent=agent.name, commit=head, verdict="pass",
                       runs=result.runs if len(checks) == 1 else 0, cached=reused,
                       cached_from=result.cached_from if reused else None)


def _branch_as_it_is(watch: BranchWatch, tester: CommitTester, head: str,
                     culprit: str | None) -> str:
    """The agent's HEAD to act on: `head` itself, or a newer HEAD that still holds the
    culprit and still fails (asked of the record, else run once). Superseded otherwise: a
    fix committed on top (or an amend, reset, rebase) cancels the action."""
    current = watch.ensure("the action", culprit or head)
    if current == head:
        return head
    outcome = tester(current)
    if outcome != "fail":
        raise Superseded(head, current, f"{watch.agent} moved on to {current[:10]}, where "
                         f"{tester.check.name} does not fail ({outcome}): action cancelled")
    return current


def check_checkpoint(workspace: Workspace, store: Store, agent: Agent,
                     checkpoint: str) -> AgentHealth:
    checks = workspace.config.health.checks
    for check in checks:
        tester = CommitTester(workspace, store, check, agent.name, "checkpoint")
        found = investigate([checkpoint], tester)
        result = _from_investigation(agent.name, checkpoint, check, found, tester)
        health_state.record_verdict(store, agent=agent.name, check=check.name,
                                    trigger="checkpoint", commit=checkpoint,
                                    verdict=found.verdict, runs=tester.real_runs,
                                    log_path=result.log_path, detail=found.reason,
                                    cached=result.cached)
        if found.verdict == "broken":
            record_event(store, EventKind.HEALTH_FAIL,
                         f"{agent.name}: {check.name} fails on its work in progress "
                         f"(checkpoint {checkpoint[:10]})", agent=agent.name,
                         severity="warning", path=result.log_path,
                         data={"checkpoint": checkpoint, "check": check.name,
                               "log": result.log_path})
            return result
        if found.verdict == "flaky":
            _report_flaky(store, result)
            return result
    _mark_clean(workspace, store, agent.name, checkpoint)
    return AgentHealth(agent=agent.name, commit=checkpoint, verdict="pass")


def record_superseded(store: Store, agent: str, commit: str, head: str | None, why: str, *,
                      trigger: str = "commit", checks: Sequence[str] = ()) -> None:
    """Work for a commit that left the branch: recorded, never acted on or notified."""
    for check in checks:
        health_state.record_verdict(store, agent=agent, check=check, trigger=trigger,
                                    commit=commit, verdict="superseded", detail=why,
                                    action="none")
    record_event(store, EventKind.HEALTH_SUPERSEDED, f"{agent}: {why}", agent=agent,
                 data={"commit": commit, "head": head, "trigger": trigger})


def report_error(store: Store, agent: str, commit: str, message: str, *,
                 checks: Sequence[str] = (), trigger: str = "commit") -> None:
    """A check that could not run (scratch worktree, git): an `error` verdict for the commit
    and a notification, so that status never keeps showing an older pass."""
    for check in checks:
        health_state.record_verdict(store, agent=agent, check=check, trigger=trigger,
                                    commit=commit, verdict="error", detail=message)
    record_notice(store, EventKind.HEALTH_ERROR,
                  f"{agent}: health check of {commit[:10]} could not run: {message}",
                  title=f"gitwarden: cannot check {agent}",
                  body=f"the health check of {commit[:10]} could not run: {message}",
                  agent=agent, severity="error", data={"commit": commit, "error": message},
                  dedup=f"health-error {agent} {message}")


class _BlameCheck:
    """Before an agent is blamed for a confirmed failure: does the check also fail on the base
    (its head, the base commit the agent branched from or merged in) or at the agent's clean
    point? Then the failure is not the agent's. Outcomes already recorded for the same tree
    are reused; a commit never run against this check (e.g. a new check) is run once."""

    def __init__(self, workspace: Workspace, tester: CommitTester, agent: str, head: str,
                 commits: Sequence[str], clean_point: str | None) -> None:
        self.workspace = workspace
        self.tester = tester
        self.agent = agent
        self.head = head
        self.commits = commits
        self.clean_point = clean_point
        self.runs = 0
        self.failing: str | None = None  # the base or clean-point commit that fails too

    def __call__(self) -> tuple[Verdict, str] | None:
        check = self.tester.check.name
        base = self.workspace.base_branch
        seen: set[str] = set()
        for commit, label in self._base_commits():
            if commit in seen:
                continue
            seen.add(commit)
            if self._outcome(commit) == "fail":
                self.failing = commit
                return ("base-broken", f"{check} fails on {label} ({commit[:10]}) too: the "
                        f"failure comes from {base}, not from {self.agent}")
        point = self.clean_point
        if point is not None and point not in seen and self._outcome(point) == "fail":
            self.failing = point
            return ("preexisting", f"{check} already fails at {self.agent}'s clean point "
                    f"{point[:10]}: the failure predates {self.agent}'s commits")
        return None

    def _base_commits(self) -> list[tuple[str, str]]:
        cwd = self.workspace.repo.main_worktree
        base = self.workspace.base_branch
        proc = run_git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], cwd,
                       check=False)
        base_head = proc.stdout.decode().strip()
        if not base_head:
            return []
        found = [(base_head, f"the head of {base}")]
        proc = run_git(["merge-base", base_head, self.head], cwd, check=False)
        merge_base = proc.stdout.decode().strip()
        if merge_base:
            found.append((merge_base, f"the {base} commit {self.agent} is based on"))
        for commit in self.commits:  # base commits merged in by the agent's merges
            for parent in parents(self.workspace.repo.main_worktree, commit)[1:]:
                if is_ancestor(cwd, parent, base_head):
                    found.append((parent, f"the {base} commit {self.agent} merged in"))
        return found

    def _outcome(self, commit: str) -> str | None:
        known = self.tester.known(commit)
        if known is not None and known != "skip":
            return known
        trigger, self.tester.trigger = self.tester.trigger, "verify"
        try:
            self.runs += 1
            return self.tester(commit)
        finally:
            self.tester.trigger = trigger


def _report_not_the_agents(store: Store, result: AgentHealth, verdict: str,
                           failing: str) -> None:

    result.action = "notify"
    if verdict == "base-broken":
        kind, title = EventKind.HEALTH_BASE_BROKEN, f"gitwarden: the base breaks {result.check}"
    else:
        kind, title = EventKind.HEALTH_PREEXISTING, f"gitwarden: {result.check} was already failing"
    body = (f"{result.agent} is not blamed, paused or reverted: {result.detail}. "
            f"Log: {result.log_path}")
    data = {"check": result.check, "commit": result.commit, "log": result.log_path,
            "verify_runs": result.verify_runs}
    # one notification per finding: this check failing on this base/clean-point commit
    finding = f"{kind} {result.check} {failing}"
    if health_state.claim_action(store, result.agent, finding, "notify"):
        notify(store, kind, title, body, agent=result.agent, severity="warning", data=data)
    else:
        record_event(store, kind, f"{title}: {body}", agent=result.agent, severity="warning",
                     data=data)


def _from_investigation(agent: str, head: str, check: HealthCheck, found: Investigation[str],
                        tester: CommitTester) -> AgentHealth:
    log = tester.last_failure or (tester.runs[-1] if tester.runs else None)
    reused = tester.reused
    cached = bool(reused) and tester.real_runs == 0
    return AgentHealth(agent=agent, commit=head, verdict=found.verdict, check=check.name,
                       culprit=found.culprit, candidates=found.candidates, runs=found.runs,
                       gate_runs=found.gate_runs, log_path=str(log.log_path) if log else None,
                       detail=found.reason, cached=cached,
                       cached_from=reused[0].as_json() if cached else None)


def _report_flaky(store: Store, result: AgentHealth) -> None:

    result.action = "none"
    notify(store, EventKind.HEALTH_FLAKY, f"gitwarden: flaky check {result.check}",
           f"{result.check} gave different results on {result.agent}'s commits; nobody is "
           f"blamed ({result.detail or 'the failure did not reproduce'}). Log: "
           f"{result.log_path}", agent=result.agent, severity="warning",
           data={"check": result.check, "commit": result.commit, "log": result.log_path})


# --- integration -------------------------------------------------------------------------------


# --- git helpers ---------------------------------------------------------------------------


def _clean_point(workspace: Workspace, agent: Agent, head: str) -> str | None:
    """The newest commit known clean in head's history, else merge-base(base, head)."""
    cwd = workspace.repo.main_worktree
    clean = last_clean_commit(workspace, agent.name)
    if clean is not None and is_ancestor(cwd, clean, head):
        return clean
    proc = run_git(["merge-base", workspace.base_branch, head], cwd, check=False)
    return proc.stdout.decode().strip() or None


def _mark_clean(workspace: Workspace, store: Store, agent: str, commit: str) -> None:
    try:
        mark_clean(workspace, agent, commit, store=store)
    except GitwardenError as exc:
        record_event(store, EventKind.HEALTH_ERROR,
                     f"cannot mark {commit[:10]} clean: {exc.message}",
                     agent=agent, severity="warning")


def _already_passed(store: Store, agent: str, head: str, checks: Sequence[HealthCheck]) -> bool:
    at_head = {v.check: v for v in health_state.verdicts_at(store, agent, head)}
    return all(c.name in at_head and at_head[c.name].verdict == "pass" for c in checks)


# --- the health configuration must come from the main worktree -----------------------------


def _verify_revert(workspace: Workspace, store: Store, agent: Agent, revert_commit: str) -> None:
    """Check the reverted branch at once: a pass marks it clean (and records it)."""
    fresh = _fresh(workspace)
    check_agent_commit(fresh, store, fresh.agent(agent.name), revert_commit, trigger="revert")
