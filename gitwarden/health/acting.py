"""Acting on a confirmed culprit by the agent's policy: notify, pause, or revert (with caps,
confirmations and backups); never twice for the same culprit."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gitwarden.coordination.pauses import is_paused
from gitwarden.errors import GitwardenError
from gitwarden.git.commits import (
    commit_time,
    is_ancestor,
    parents,
    subject,
)
from gitwarden.health import table as health_state
from gitwarden.health.branch import BranchWatch
from gitwarden.health.culprit import Investigation
from gitwarden.health.policy import (
    notify,
    pause,
    resume_command,
    revert_culprit,
    revert_refusal,
    undo_command,
)
from gitwarden.health.results import (
    AgentHealth,
)
from gitwarden.health.revert_plan import RevertError
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace

# A check seen passing and failing on one tree within this window never drives a revert.
FLAKY_MEMORY = 7 * 86400.0


def act_on_culprit(workspace: Workspace, store: Store, agent: Agent, result: AgentHealth,
                   found: Investigation[str], *, watch: BranchWatch | None = None,
                   head: str | None = None) -> None:
    """Notify, pause or revert, as the agent's policy says: once per (agent, culprit). With
    `watch`, each step first checks that the culprit is still on the agent's branch
    (Superseded otherwise); `head` is the HEAD to revert on (default: the checked commit)."""

    culprit = result.culprit or result.commit or ""
    policy = agent.settings.policy
    if watch is not None:
        watch.ensure("the notification", culprit)
    if not health_state.claim_action(store, agent.name, culprit, policy):
        _report_known_culprit(workspace, store, agent, result, culprit)
        return
    exact = len(found.candidates) <= 1
    named = culprit[:10] if exact else " or ".join(c[:10] for c in found.candidates)
    title = f"gitwarden: {agent.name} broke {result.check}"
    what = subject(workspace.repo.main_worktree, culprit)
    body = (f"{result.check} fails since commit {named} ({what}); "
            f"{result.runs} health run(s) used. Log: {result.log_path}")
    if policy == "pause":
        body += (f". {agent.name} is paused: once fixed, run `{resume_command(agent.name)}`")
    data = {"check": result.check, "commit": result.commit, "culprit": result.culprit,
            "candidates": list(found.candidates), "log": result.log_path,
            "runs": result.runs, "policy": policy}
    notify(store, EventKind.HEALTH_CULPRIT, title, body, agent=agent.name, data=data)
    result.action = "notify"
    if policy == "notify":
        return
    if watch is not None:
        watch.ensure("the pause", culprit)
    pause(workspace, store, agent.name, f"{result.check} broken by {named}")
    result.action = "pause"
    health_state.set_acted(store, agent.name, culprit, "pause")
    if policy != "revert":
        return
    if watch is not None:
        head = watch.ensure("the revert", culprit)
    _auto_revert(workspace, store, agent, result, found, head or result.commit)
    health_state.set_acted(store, agent.name, culprit, result.action)


def _report_known_culprit(workspace: Workspace, store: Store, agent: Agent,
                          result: AgentHealth, culprit: str) -> None:
    """The culprit was already acted on for this agent: never act again automatically; tell
    the user once (and again only if the situation changes, e.g. a revert was undone)."""
    what = subject(workspace.repo.main_worktree, culprit)
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
                f"({what}), which gitwarden reverted before: the revert "
                f"was undone, so gitwarden will not revert it again. {state}. "
                f"Log: {result.log_path}")
    else:
        notice = "known"
        title = f"gitwarden: {agent.name} still broken by {culprit[:10]}"
        body = (f"{result.check} still fails because of {culprit[:10]} "
                f"({what}), already handled ({done}); gitwarden does "
                f"not act twice. {state}. Log: {result.log_path}")
    data = {"check": result.check, "commit": result.commit, "culprit": culprit,
            "log": result.log_path, "previous_action": done, "paused": paused}
    if health_state.note_repeat(store, agent.name, culprit, notice):
        notify(store, EventKind.HEALTH_CULPRIT_KNOWN, title, body, agent=agent.name,
               severity="warning", data=data)
    else:
        record_event(store, EventKind.HEALTH_CULPRIT_KNOWN, f"{title}: {body}", agent=agent.name,
                     severity="warning", data=data)


def _revert_undone(workspace: Workspace, store: Store, agent_name: str, culprit: str,
                   head: str | None) -> bool:
    """Whether `culprit` was auto-reverted for the agent and that revert is no longer in
    `head`'s history (the user ran `gitwarden rollback AGENT --undo`, or reset the branch)."""
    if head is None or not health_state.was_reverted(store, agent_name, culprit):
        return False
    cwd = workspace.repo.main_worktree
    return not any(is_ancestor(cwd, row["revert_commit"], head)
                   for row in health_state.reverts(store, agent_name)
                   if row["culprit"] == culprit and row["status"] == "done")


def _auto_revert(workspace: Workspace, store: Store, agent: Agent, result: AgentHealth,
                 found: Investigation[str], head: str | None) -> None:

    culprit = result.culprit
    refusal: str | None = None
    if culprit is None or head is None:
        refusal = "no culprit commit"
    elif len(parents(workspace.repo.main_worktree, culprit)) > 1:
        refusal = (f"{culprit[:10]} is a merge commit: gitwarden never reverts a merge "
                   "automatically")
    elif not found.revert_safe:
        refusal = found.reason or "the culprit was not confirmed consistently"
    elif health_state.flaky_on_record(store, result.check or "",
                                      since=time.time() - FLAKY_MEMORY):
        refusal = f"{result.check} gave different results on the same tree recently (flaky)"
    else:
        when = commit_time(workspace.repo.main_worktree, culprit)
        refusal = revert_refusal(workspace, store, agent, when, culprit=culprit)
    if refusal is None and culprit is not None and head is not None:
        try:
            done = revert_culprit(workspace, store, agent, culprit, head,
                                  check=result.check or "")
        except (RevertError, GitwardenError) as exc:
            refusal = exc.message
        else:
            result.action = "revert"
            result.revert_commit = done.revert_commit
            notify(store, EventKind.HEALTH_REVERT,
                   f"gitwarden: reverted {culprit[:10]} on {agent.name}",
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
            return
    notify(store, EventKind.HEALTH_REVERT_REFUSED, f"gitwarden: not reverting {agent.name}",
           f"{refusal}; {agent.name} stays paused: fix it, then run "
           f"`{resume_command(agent.name)}`", agent=agent.name, severity="warning",
           data={"culprit": culprit, "reason": refusal, "resume": resume_command(agent.name)})
