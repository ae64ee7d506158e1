"""Health checks for agents: run, confirm, find the culprit, act by policy (the facade).

The daemon calls `on_agent_commit` (new commit on an agent's branch) and `on_checkpoint`
from worker threads; `gitwarden health --run` calls `run_health`. Commands come only from the
main worktree's gitwarden.toml, never from an agent's branch.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pygit2

from gitwarden.checkpoints.take import last_clean_commit, mark_clean
from gitwarden.config import HealthCheck
from gitwarden.coordination.pauses import is_paused, pause_info
from gitwarden.errors import GitError, GitwardenError
from gitwarden.git.repository import CONFIG_FILE_NAME
from gitwarden.git.runner import run_git
from gitwarden.health import table as health_state
from gitwarden.health.culprit import Investigation, find_failing_set, investigate
from gitwarden.health.outcomes import Outcome, Verdict
from gitwarden.health.policy import (
    notify,
    pause,
    resume_command,
    revert_culprit,
    revert_refusal,
    undo_command,
)
from gitwarden.health.revert_plan import RevertError
from gitwarden.health.runner import CheckRun, run_on_commit
from gitwarden.store.db import Store
from gitwarden.store.events import record_event

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace

# Re-runs of a named culprit (and one of its parent) before an automatic revert: with a check
# that fails 30% of the time at random, a good commit is reverted with probability
# 0.3**(2 + REVERT_CONFIRMATIONS) * 0.7, about 5 in 10,000.
REVERT_CONFIRMATIONS = 4
INTEGRATION = "integration"
# A check seen passing and failing on one tree within this window never drives a revert.
FLAKY_MEMORY = 7 * 86400.0


@dataclass
class AgentHealth:
    """What one health pass found for one agent."""

    agent: str
    commit: str | None
    verdict: str  # pass | skip | flaky | broken | none (no checks / nothing new)
    check: str | None = None
    culprit: str | None = None
    candidates: tuple[str, ...] = ()
    runs: int = 0
    gate_runs: int = 0
    log_path: str | None = None
    action: str | None = None
    detail: str = ""
    revert_commit: str | None = None
    verify_runs: int = 0  # runs on the base and the clean point before blaming the agent

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "commit": self.commit, "verdict": self.verdict,
                "check": self.check, "culprit": self.culprit,
                "candidates": list(self.candidates), "runs": self.runs,
                "gate_runs": self.gate_runs, "verify_runs": self.verify_runs,
                "log": self.log_path, "action": self.action,
                "detail": self.detail, "revert_commit": self.revert_commit}


@dataclass
class IntegrationHealth:
    verdict: str  # pass | broken | flaky | none
    check: str | None = None
    agents: tuple[str, ...] = ()  # agents merged in
    culprits: tuple[str, ...] = ()  # the smallest failing combination found
    left_out: dict[str, str] = field(default_factory=dict)  # agent -> why (conflict, ...)
    runs: int = 0
    log_path: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "check": self.check, "agents": list(self.agents),
                "culprits": list(self.culprits), "left_out": self.left_out,
                "runs": self.runs, "log": self.log_path}


# --- entry points ------------------------------------------------------------------------------

def on_agent_commit(workspace: Workspace, agent_name: str, old_head: str | None,
                    new_head: str) -> None:
    """A new commit on an agent's branch: check it, blame and act on a confirmed failure."""
    workspace = _fresh(workspace)
    with Store.open(workspace.repo) as store:
        agent = workspace.agent(agent_name)
        report_health_config_edit(workspace, store, agent, old_head, new_head)
        result = check_agent_commit(workspace, store, agent, new_head, trigger="commit")
        if result.verdict == "pass" and workspace.config.health.integration:
            run_integration(workspace, store)


def on_checkpoint(workspace: Workspace, agent_name: str, checkpoint_commit: str) -> None:
    """A new checkpoint: check the snapshot; a pass marks it clean, a confirmed failure is
    reported (work in progress: nobody is paused or reverted for it)."""
    workspace = _fresh(workspace)
    with Store.open(workspace.repo) as store:
        check_checkpoint(workspace, store, workspace.agent(agent_name), checkpoint_commit)


def _fresh(workspace: Workspace) -> Workspace:
    """The same repository and config with current worktree heads (the caller's copy may be
    older than the commit being checked)."""
    return type(workspace)(repo=workspace.repo, config=workspace.config)


def run_health(workspace: Workspace, agents: Sequence[Agent], *, store: Store,
               integration: bool | None = None) -> dict[str, Any]:
    """Check each agent's HEAD now (as if it had just committed), then the integration."""
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


def status_fields(store: Store, agent_name: str,
                  workspace: Workspace | None = None) -> dict[str, Any]:
    """Health and pause fields for `gitwarden status`. With the workspace, only the checks
    configured now count, and each result says which commit it is for (`stale`: not the
    agent's current HEAD)."""
    verdicts = current_verdicts(store, agent_name, workspace)
    head = _agent_head(workspace, agent_name)
    worst = _worst([v.verdict for v in verdicts])
    culprit = next((v.culprit for v in verdicts if v.verdict == "broken"), None)
    results = {v.check: {"verdict": v.verdict, "commit": v.commit, "time": v.ts,
                         "stale": head is not None and v.commit != head} for v in verdicts}
    fields: dict[str, Any] = {
        "health": worst,
        "health_checks": {v.check: v.verdict for v in verdicts},
        "health_results": results,
        "health_stale": any(r["stale"] for r in results.values()),
        "culprit": culprit,
        "paused": False,
        "pause_reason": None,
    }
    info = pause_info(store, agent_name)
    if info is not None:
        fields["paused"] = True
        fields["pause_reason"] = info.reason
    return fields


def current_verdicts(store: Store, agent_name: str | None,
                     workspace: Workspace | None) -> list[health_state.Verdict]:
    """The newest verdict per check, leaving out checks no longer configured."""
    verdicts = health_state.latest_verdicts(store, agent_name)
    if workspace is None:
        return verdicts
    configured = {check.name for check in workspace.config.health.checks}
    return [v for v in verdicts if v.check in configured]


def _agent_head(workspace: Workspace | None, agent_name: str) -> str | None:
    if workspace is None:
        return None
    agent = next((a for a in workspace.agents if a.name == agent_name), None)
    return agent.head if agent is not None else None


def _worst(verdicts: Sequence[str]) -> str:
    for level in ("broken", "base-broken", "preexisting", "flaky", "skip", "pass"):
        if level in verdicts:
            return level
    return "unknown"


# --- one agent -----------------------------------------------------------------------------

def check_agent_commit(workspace: Workspace, store: Store, agent: Agent, head: str, *,
                       trigger: str, force: bool = False) -> AgentHealth:
    checks = workspace.config.health.checks
    if not checks:
        return AgentHealth(agent=agent.name, commit=head, verdict="none",
                           detail="no health checks configured")
    if not force and _already_passed(store, agent.name, head, checks):
        return AgentHealth(agent=agent.name, commit=head, verdict="pass",
                           detail="already checked")
    clean_point = _clean_point(workspace, agent, head)
    commits = _commits_since(workspace, clean_point, head)
    if not commits:
        commits = [head]  # the head itself is the clean point: check it again
    policy = agent.settings.policy
    gate = REVERT_CONFIRMATIONS if policy == "revert" and agent.settings.auto_revert else 0
    result = AgentHealth(agent=agent.name, commit=head, verdict="pass")
    skipped: list[str] = []
    for check in checks:
        tester = _CommitTester(workspace, store, check, agent.name, trigger)
        verifier = _BlameCheck(workspace, tester, agent.name, head, commits, clean_point)
        found = investigate(commits, tester, clean_point=clean_point, gate_runs=gate,
                            before_blame=verifier)
        result = _from_investigation(agent.name, head, check, found, tester)
        result.verify_runs = verifier.runs
        verdict_id = health_state.record_verdict(
            store, agent=agent.name, check=check.name, trigger=trigger, commit=head,
            verdict=found.verdict, culprit=found.culprit, candidates=found.candidates,
            runs=found.runs + found.gate_runs + verifier.runs, log_path=result.log_path,
            detail=found.reason)
        if found.verdict == "skip":
            skipped.append(check.name)
        if found.verdict in ("pass", "skip"):
            continue
        if found.verdict == "flaky":
            _report_flaky(store, result)
        elif found.verdict in ("base-broken", "preexisting"):
            _report_not_the_agents(store, result, found.verdict, verifier.failing or "")
        else:
            _act(workspace, store, agent, result, found)
        health_state.set_action(store, verdict_id, result.action or "none")
        return result
    if skipped:
        record_event(store, "health.skip", f"{agent.name}: {', '.join(skipped)} could not "
                     f"decide at {head[:10]} (exit 125)", agent=agent.name,
                     data={"commit": head, "checks": skipped})
        return AgentHealth(agent=agent.name, commit=head, verdict="skip", check=skipped[0])
    record_event(store, "health.pass", f"{agent.name}: health checks pass at {head[:10]}",
                 agent=agent.name, data={"commit": head, "trigger": trigger})
    _mark_clean(workspace, store, agent.name, head)
    return AgentHealth(agent=agent.name, commit=head, verdict="pass",
                       runs=result.runs if len(checks) == 1 else 0)


def check_checkpoint(workspace: Workspace, store: Store, agent: Agent,
                     checkpoint: str) -> AgentHealth:
    checks = workspace.config.health.checks
    for check in checks:
        tester = _CommitTester(workspace, store, check, agent.name, "checkpoint")
        found = investigate([checkpoint], tester)
        result = _from_investigation(agent.name, checkpoint, check, found, tester)
        health_state.record_verdict(store, agent=agent.name, check=check.name,
                                    trigger="checkpoint", commit=checkpoint,
                                    verdict=found.verdict, runs=found.runs,
                                    log_path=result.log_path, detail=found.reason)
        if found.verdict == "broken":
            record_event(store, "health.fail",
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


class _CommitTester:
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
            commit=commit, tree=_tree_of(self.workspace, commit), outcome=run.outcome,
            exit_code=run.exit_code, timed_out=run.timed_out, duration=run.duration,
            log_path=str(run.log_path))
        return run.outcome


class _BlameCheck:
    """Before an agent is blamed for a confirmed failure: does the check also fail on the base
    (its head, the base commit the agent branched from or merged in) or at the agent's clean
    point? Then the failure is not the agent's. Outcomes already recorded for the same tree
    are reused; a commit never run against this check (e.g. a new check) is run once."""

    def __init__(self, workspace: Workspace, tester: _CommitTester, agent: str, head: str,
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
            for parent in _parents(self.workspace, commit)[1:]:
                if _is_ancestor(cwd, parent, base_head):
                    found.append((parent, f"the {base} commit {self.agent} merged in"))
        return found

    def _outcome(self, commit: str) -> str | None:
        tree = _tree_of(self.workspace, commit)
        known = health_state.last_outcome_on_tree(self.tester.store, self.tester.check.name,
                                                  tree) if tree else None
        if known is not None:
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
        kind, title = "health.base-broken", f"gitwarden: the base breaks {result.check}"
    else:
        kind, title = "health.preexisting", f"gitwarden: {result.check} was already failing"
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
                        tester: _CommitTester) -> AgentHealth:
    log = tester.last_failure or (tester.runs[-1] if tester.runs else None)
    return AgentHealth(agent=agent, commit=head, verdict=found.verdict, check=check.name,
                       culprit=found.culprit, candidates=found.candidates, runs=found.runs,
                       gate_runs=found.gate_runs, log_path=str(log.log_path) if log else None,
                       detail=found.reason)


def _report_flaky(store: Store, result: AgentHealth) -> None:

    result.action = "none"
    notify(store, "health.flaky", f"gitwarden: flaky check {result.check}",
           f"{result.check} gave different results on {result.agent}'s commits; nobody is "
           f"blamed ({result.detail or 'the failure did not reproduce'}). Log: "
           f"{result.log_path}", agent=result.agent, severity="warning",
           data={"check": result.check, "commit": result.commit, "log": result.log_path})


def _act(workspace: Workspace, store: Store, agent: Agent, result: AgentHealth,
         found: Investigation[str]) -> None:
    """Notify, pause or revert, as the agent's policy says: once per (agent, culprit)."""

    culprit = result.culprit or result.commit or ""
    policy = agent.settings.policy
    if not health_state.claim_action(store, agent.name, culprit, policy):
        _report_known_culprit(workspace, store, agent, result, culprit)
        return
    exact = len(found.candidates) <= 1
    named = culprit[:10] if exact else " or ".join(c[:10] for c in found.candidates)
    title = f"gitwarden: {agent.name} broke {result.check}"
    body = (f"{result.check} fails since commit {named} ({_subject(workspace, culprit)}); "
            f"{result.runs} health run(s) used. Log: {result.log_path}")
    if policy == "pause":
        body += (f". {agent.name} is paused: once fixed, run `{resume_command(agent.name)}`")
    data = {"check": result.check, "commit": result.commit, "culprit": result.culprit,
            "candidates": list(found.candidates), "log": result.log_path,
            "runs": result.runs, "policy": policy}
    notify(store, "health.culprit", title, body, agent=agent.name, data=data)
    result.action = "notify"
    if policy == "notify":
        return
    pause(workspace, store, agent.name, f"{result.check} broken by {named}")
    result.action = "pause"
    health_state.set_acted(store, agent.name, culprit, "pause")
    if policy != "revert":
        return
    _auto_revert(workspace, store, agent, result, found)
    health_state.set_acted(store, agent.name, culprit, result.action)


def _report_known_culprit(workspace: Workspace, store: Store, agent: Agent,
                          result: AgentHealth, culprit: str) -> None:
    """The culprit was already acted on for this agent: never act again automatically; tell
    the user once (and again only if the situation changes, e.g. a revert was undone)."""

    previous = health_state.acted_on(store, agent.name, culprit)
    done = previous.action if previous is not None else "an action"
    result.action = "none"
    result.detail = (f"{culprit[:10]} was already handled ({done}); gitwarden does not act "
                     "twice on the same culprit")
    paused = is_paused(store, agent.name)
    state = (f"{agent.name} stays paused: fix it, then run `{resume_command(agent.name)}`"
             if paused else f"{agent.name} is not paused")
    if _revert_undone(workspace, store, agent.name, culprit, result.commit):
        notice = "revert-undone"
        title = f"gitwarden: {culprit[:10]} is back on {agent.name}"
        body = (f"{result.check} fails again because of {culprit[:10]} "
                f"({_subject(workspace, culprit)}), which gitwarden reverted before: the revert "
                f"was undone, so gitwarden will not revert it again. {state}. "
                f"Log: {result.log_path}")
    else:
        notice = "known"
        title = f"gitwarden: {agent.name} still broken by {culprit[:10]}"
        body = (f"{result.check} still fails because of {culprit[:10]} "
                f"({_subject(workspace, culprit)}), already handled ({done}); gitwarden does "
                f"not act twice. {state}. Log: {result.log_path}")
    data = {"check": result.check, "commit": result.commit, "culprit": culprit,
            "log": result.log_path, "previous_action": done, "paused": paused}
    if health_state.note_repeat(store, agent.name, culprit, notice):
        notify(store, "health.culprit-known", title, body, agent=agent.name,
               severity="warning", data=data)
    else:
        record_event(store, "health.culprit-known", f"{title}: {body}", agent=agent.name,
                     severity="warning", data=data)


def _revert_undone(workspace: Workspace, store: Store, agent_name: str, culprit: str,
                   head: str | None) -> bool:
    """Whether `culprit` was auto-reverted for the agent and that revert is no longer in
    `head`'s history (the user ran `gitwarden rollback AGENT --undo`, or reset the branch)."""
    if head is None or not health_state.was_reverted(store, agent_name, culprit):
        return False
    cwd = workspace.repo.main_worktree
    return not any(_is_ancestor(cwd, row["revert_commit"], head)
                   for row in health_state.reverts(store, agent_name)
                   if row["culprit"] == culprit and row["status"] == "done")


def _auto_revert(workspace: Workspace, store: Store, agent: Agent, result: AgentHealth,
                 found: Investigation[str]) -> None:

    culprit = result.culprit
    refusal: str | None = None
    if culprit is None or result.commit is None:
        refusal = "no culprit commit"
    elif len(_parents(workspace, culprit)) > 1:
        refusal = (f"{culprit[:10]} is a merge commit: gitwarden never reverts a merge "
                   "automatically")
    elif not found.revert_safe:
        refusal = found.reason or "the culprit was not confirmed consistently"
    elif health_state.flaky_on_record(store, result.check or "",
                                      since=time.time() - FLAKY_MEMORY):
        refusal = f"{result.check} gave different results on the same tree recently (flaky)"
    else:
        refusal = revert_refusal(workspace, store, agent, _commit_time(workspace, culprit),
                                 culprit=culprit)
    if refusal is None and culprit is not None and result.commit is not None:
        try:
            done = revert_culprit(workspace, store, agent, culprit, result.commit,
                                  check=result.check or "")
        except (RevertError, GitwardenError) as exc:
            refusal = exc.message
        else:
            result.action = "revert"
            result.revert_commit = done.revert_commit
            notify(store, "health.revert", f"gitwarden: reverted {culprit[:10]} on {agent.name}",
                   f"added revert commit {done.revert_commit[:10]} on {agent.branch} "
                   f"({len(done.paths)} path(s)); previous state kept in {done.backup_ref}. "
                   f"{agent.name} stays paused: review the revert, then run "
                   f"`{resume_command(agent.name)}`; to restore the pre-revert state run "
                   f"`{undo_command(agent.name)}` (gitwarden will not revert {culprit[:10]} "
                   "again)", agent=agent.name, severity="warning",
                   data={"culprit": culprit, "revert_commit": done.revert_commit,
                         "previous_head": done.previous_head, "backup_ref": done.backup_ref,
                         "safety_checkpoint": done.safety_checkpoint,
                         "paths": list(done.paths), "resume": resume_command(agent.name),
                         "undo": undo_command(agent.name)})
            _verify_revert(workspace, store, agent, done.revert_commit)
            return
    notify(store, "health.revert-refused", f"gitwarden: not reverting {agent.name}",
           f"{refusal}; {agent.name} stays paused: fix it, then run "
           f"`{resume_command(agent.name)}`", agent=agent.name, severity="warning",
           data={"culprit": culprit, "reason": refusal, "resume": resume_command(agent.name)})


def _verify_revert(workspace: Workspace, store: Store, agent: Agent, revert_commit: str) -> None:
    """Check the reverted branch at once: a pass marks it clean (and records it)."""
    fresh = _fresh(workspace)
    check_agent_commit(fresh, store, fresh.agent(agent.name), revert_commit, trigger="revert")


# --- integration -------------------------------------------------------------------------------

def run_integration(workspace: Workspace, store: Store) -> IntegrationHealth:
    """The base merged with every agent head (in memory); a failure is narrowed down to the
    smallest combination of agents that fails."""

    checks = workspace.config.health.checks
    if not checks:
        return IntegrationHealth(verdict="none")
    repo = pygit2.Repository(str(workspace.repo.main_worktree))
    base = _rev(workspace, workspace.base_branch)
    heads: dict[str, str] = {}
    left_out: dict[str, str] = {}
    for agent in workspace.agents:
        if agent.head is None or not agent.exists:
            continue
        if agent.head == base or repo.descendant_of(base, agent.head):
            continue  # nothing to bring in
        if _merged_tree(repo, base, [agent.head]) is None:
            left_out[agent.name] = "conflicts with the base"
            continue
        heads[agent.name] = agent.head
    names = tuple(sorted(heads))
    if not names:
        return IntegrationHealth(verdict="none", left_out=left_out)
    cache: dict[frozenset[str], str | None] = {}

    def commit_for(members: frozenset[str]) -> str | None:
        if members not in cache:
            ordered = [heads[n] for n in names if n in members]
            tree = _merged_tree(repo, base, ordered)
            cache[members] = None if tree is None else _integration_commit(repo, base, tree,
                                                                         sorted(members))
        return cache[members]

    full = commit_for(frozenset(names))
    if full is None:
        return IntegrationHealth(verdict="none", agents=names, left_out=left_out,
                                 check=None)
    total_runs = 0
    for check in checks:
        tester = _CommitTester(workspace, store, check, None, INTEGRATION)
        first = tester(full)
        total_runs += 1
        if first != "fail":
            continue

        def test_set(members: frozenset[str], tester: _CommitTester = tester) -> Outcome:
            commit = commit_for(members)
            return "skip" if commit is None else tester(commit)

        search = find_failing_set(names, test_set)
        total_runs += search.runs
        log = str(tester.last_failure.log_path) if tester.last_failure else None
        if search.members is None:
            result = IntegrationHealth(verdict="flaky", check=check.name, agents=names,
                                       left_out=left_out, runs=total_runs, log_path=log)
        else:
            result = IntegrationHealth(verdict="broken", check=check.name, agents=names,
                                       culprits=tuple(sorted(search.members)), left_out=left_out,
                                       runs=total_runs, log_path=log)
        inputs = " ".join([base, *(f"{name}={heads[name]}" for name in names)])
        _report_integration(store, result, full, inputs)
        return result
    for check in checks:
        health_state.record_verdict(store, agent=INTEGRATION, check=check.name,
                                    trigger=INTEGRATION, commit=full, verdict="pass",
                                    runs=total_runs, agents=names)
    return IntegrationHealth(verdict="pass", agents=names, left_out=left_out, runs=total_runs)


def _report_integration(store: Store, result: IntegrationHealth, commit: str,
                        inputs: str) -> None:
    """Record the verdict; tell the user once per finding: the same check failing with the
    same combination on the same base and agent heads (`inputs`) is one event, however many
    agent commits (or concurrent workers) ran into it."""

    check = result.check or ""
    finding = f"{result.verdict} {check} {'+'.join(result.culprits)} @ {inputs}"
    first = health_state.claim_action(store, INTEGRATION, finding, "notify")
    health_state.record_verdict(store, agent=INTEGRATION, check=check, trigger=INTEGRATION,
                                commit=commit, verdict=result.verdict,
                                culprit="+".join(result.culprits) or None,
                                candidates=result.culprits, runs=result.runs,
                                log_path=result.log_path,
                                action="notify" if first else "none (already reported)",
                                agents=result.agents)
    if not first:
        return
    if result.verdict == "broken":
        who = " + ".join(result.culprits)
        together = "together " if len(result.culprits) > 1 else ""
        notify(store, "health.integration",
               f"gitwarden: {who} {together}break {check}",
               f"the base merged with {who} fails {check}"
               f"{' although each passes alone' if len(result.culprits) > 1 else ''}; "
               f"{result.runs} health run(s) used. Log: {result.log_path}",
               agent=result.culprits[0] if len(result.culprits) == 1 else None,
               data={"agents": list(result.culprits), "check": check,
                     "log": result.log_path, "commit": commit})
    else:
        notify(store, "health.flaky", f"gitwarden: flaky integration check {check}",
               "the merged agents failed once but no combination failed again",
               agent=None, severity="warning", data={"check": check, "log": result.log_path})


def _merged_tree(repo: Any, base: str, heads: Sequence[str]) -> str | None:
    tree = repo[base].tree
    for head in heads:
        ancestor = repo.merge_base(base, head)
        ancestor_tree = repo[ancestor].tree if ancestor is not None else None
        index = repo.merge_trees(ancestor_tree, tree, repo[head].tree)
        if index.conflicts is not None:
            return None
        tree = repo[index.write_tree(repo)]
    return str(tree.id)


def _integration_commit(repo: Any, base: str, tree: str, members: list[str]) -> str:

    signature = pygit2.Signature("gitwarden", "gitwarden@localhost", int(time.time()), 0)
    message = f"gitwarden integration: {base[:10]} + {', '.join(members)}\n"
    return str(repo.create_commit(None, signature, signature, message, pygit2.Oid(hex=tree),
                                  [pygit2.Oid(hex=base)]))


# --- git helpers ---------------------------------------------------------------------------

def _rev(workspace: Workspace, revision: str) -> str:
    return run_git(["rev-parse", "--verify", f"{revision}^{{commit}}"],
                   workspace.repo.main_worktree).stdout.decode().strip()


def _clean_point(workspace: Workspace, agent: Agent, head: str) -> str | None:
    """The newest commit known clean in head's history, else merge-base(base, head)."""
    cwd = workspace.repo.main_worktree
    clean = last_clean_commit(workspace, agent.name)
    if clean is not None and _is_ancestor(cwd, clean, head):
        return clean
    proc = run_git(["merge-base", workspace.base_branch, head], cwd, check=False)
    return proc.stdout.decode().strip() or None


def _is_ancestor(cwd: Any, ancestor: str, descendant: str) -> bool:
    return run_git(["merge-base", "--is-ancestor", ancestor, descendant], cwd,
                   check=False).returncode == 0


def _commits_since(workspace: Workspace, clean_point: str | None, head: str) -> list[str]:
    """First-parent commits after the clean point up to head, oldest first."""
    spec = [head] if clean_point is None else [f"{clean_point}..{head}"]
    proc = run_git(["rev-list", "--reverse", "--first-parent", *spec],
                   workspace.repo.main_worktree)
    return proc.stdout.decode().split()


def _parents(workspace: Workspace, commit: str) -> list[str]:
    proc = run_git(["rev-list", "--parents", "-n", "1", commit], workspace.repo.main_worktree,
                   check=False)
    return proc.stdout.decode().split()[1:]


def _tree_of(workspace: Workspace, commit: str) -> str | None:
    proc = run_git(["rev-parse", "--verify", "--quiet", f"{commit}^{{tree}}"],
                   workspace.repo.main_worktree, check=False)
    return proc.stdout.decode().strip() or None


def _commit_time(workspace: Workspace, commit: str) -> float:
    proc = run_git(["show", "-s", "--format=%ct", commit], workspace.repo.main_worktree)
    return float(proc.stdout.decode().strip() or 0)


def _subject(workspace: Workspace, commit: str) -> str:
    try:
        proc = run_git(["show", "-s", "--format=%s", commit], workspace.repo.main_worktree)
    except GitError:
        return "?"
    return proc.stdout.decode("utf-8", "replace").strip()


def _mark_clean(workspace: Workspace, store: Store, agent: str, commit: str) -> None:
    try:
        mark_clean(workspace, agent, commit, store=store)
    except GitwardenError as exc:
        record_event(store, "health.error", f"cannot mark {commit[:10]} clean: {exc.message}",
                     agent=agent, severity="warning")


def _already_passed(store: Store, agent: str, head: str, checks: Sequence[HealthCheck]) -> bool:
    latest = {v.check: v for v in health_state.latest_verdicts(store, agent)}
    return all(c.name in latest and latest[c.name].commit == head
               and latest[c.name].verdict == "pass" for c in checks)


# --- the health configuration must come from the main worktree -----------------------------

def report_health_config_edit(workspace: Workspace, store: Store, agent: Agent,
                              old_head: str | None, new_head: str) -> bool:
    """Report (event + notification) when a commit changes gitwarden.toml's [health]."""
    cwd = workspace.repo.main_worktree
    before = old_head
    if before is None:
        proc = run_git(["merge-base", workspace.base_branch, new_head], cwd, check=False)
        before = proc.stdout.decode().strip() or None
    old = _health_table(cwd, before) if before else None
    new = _health_table(cwd, new_head)
    if old == new:
        return False

    notify(store, "health.config-edited", f"gitwarden: {agent.name} edited the health checks",
           f"commit {new_head[:10]} on {agent.branch or 'a detached HEAD'} changes [health] in "
           f"{CONFIG_FILE_NAME}; gitwarden keeps using the main worktree's checks",
           agent=agent.name, severity="warning", data={"commit": new_head},
           )
    return True


def _health_table(cwd: Any, commit: str) -> Any:
    proc = run_git(["cat-file", "blob", f"{commit}:{CONFIG_FILE_NAME}"], cwd, check=False)
    if proc.returncode != 0:
        return None
    try:
        return tomllib.loads(proc.stdout.decode("utf-8", "replace")).get("health")
    except tomllib.TOMLDecodeError:
        return "<invalid TOML>"

