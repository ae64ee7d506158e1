"""`sync`: bringing an agent up to date with the base, as a plan and its application.

The rebased (or merge) commits are built in memory first, so a sync that would conflict is
refused before anything is touched. Applying it: the agent's tools are paused, a safety
checkpoint and a backup ref are taken and the sync is recorded in the rollback log (so
`rollback --undo` or `sync --undo` restores it), the branch moves by compare-and-swap, and
`git read-tree -m -u OLD NEW` updates the index and files: git refuses rather than overwrite
uncommitted work, and the plan already refuses when uncommitted files are in the way. Any
failure after the first write puts everything back from the safety checkpoint.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.rollback import rollback_lock, undo_rollback
from gitwarden.checkpoints.table import mark_completed, record_rollback, rollbacks
from gitwarden.checkpoints.take import create_backup_ref
from gitwarden.coordination import pauses
from gitwarden.errors import GitError, GitwardenError
from gitwarden.git.changes import worktree_changes
from gitwarden.git.merges import changed_between, update_branch_cas
from gitwarden.git.quarantine import divert_writes, git_env_for
from gitwarden.git.runner import run_git
from gitwarden.git.worktrees import operation_in_progress
from gitwarden.landing import queue
from gitwarden.overlaps.replay import merge_commit, replay
from gitwarden.store.activity import list_activity
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event

SYNC_PAUSE_REASON = "gitwarden is syncing this agent with the base; retry in a moment"
PAUSED_BY = "gitwarden-sync"


class SyncRefused(GitwardenError):
    """A sync that cannot be made safely; the message says why and what to do."""


@dataclass(frozen=True)
class SyncPlan:
    """What a sync would do. `refusal` set: it would not be applied (nothing is touched)."""

    agent: str
    branch: str | None
    strategy: str
    head: str | None
    base_commit: str
    behind: int
    new_head: str | None = None
    changes: tuple[str, ...] = ()  # files the sync rewrites in the worktree
    conflicts: tuple[str, ...] = ()
    uncommitted: tuple[str, ...] = ()  # kept as they are (none of them is in `changes`)
    refusal: str | None = None

    @property
    def up_to_date(self) -> bool:
        return self.behind == 0 and self.refusal is None

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "branch": self.branch, "strategy": self.strategy,
                "head": {"from": self.head, "to": self.new_head}, "base": self.base_commit,
                "behind": self.behind, "write": list(self.changes),
                "conflicts": list(self.conflicts), "uncommitted_kept": list(self.uncommitted),
                "up_to_date": self.up_to_date, "refusal": self.refusal}


@dataclass(frozen=True)
class SyncOutcome:
    plan: SyncPlan
    safety: str | None = None
    backup_ref: str | None = None
    record_id: int | None = None
    restored: bool = False
    errors: list[str] = field(default_factory=list)


def plan_sync(workspace: Workspace, agent: Agent, strategy: str | None = None,
              base_commit: str | None = None, *, quarantine: Path | None = None) -> SyncPlan:
    """The sync of `agent` onto the base (built in memory; no worktree, index or ref moves).
    With `quarantine` (a plan only shown) the new commits are written there, not kept."""
    strategy = strategy or workspace.config.sync.strategy
    base = base_commit or workspace.base_commit()
    plan = SyncPlan(agent=agent.name, branch=agent.branch, strategy=strategy, head=agent.head,
                    base_commit=base, behind=0)
    name = shlex.quote(agent.name)
    if not agent.exists:
        return _refused(plan, f"agent {agent.name}: worktree missing: {agent.path}")
    operation = operation_in_progress(agent.git_dir)
    if operation:
        return _refused(plan, f"agent {agent.name} is in the middle of a {operation}: finish "
                        f"or abort it first (git {operation} --abort)")
    if agent.branch is None or agent.head is None:
        return _refused(plan, f"agent {agent.name} has no branch checked out (detached or "
                        "unborn HEAD): check out its branch first")
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    if quarantine is not None:
        divert_writes(repo, quarantine)
    ahead, behind = repo.ahead_behind(agent.head, base)
    plan = _with(plan, behind=behind)
    if behind == 0:
        return plan
    if ahead == 0:
        new_head: str | None = base  # nothing of its own: a fast-forward
        conflicts: tuple[str, ...] = ()
    elif strategy == "merge":
        built = merge_commit(repo, agent.head, base,
                             f"Merge {workspace.base_branch} into {agent.branch}\n")
        new_head, conflicts = built.head, built.conflicts
    else:
        walker = repo.walk(agent.head, pygit2.enums.SortMode.TOPOLOGICAL |
                           pygit2.enums.SortMode.REVERSE)
        walker.hide(base)
        built = replay(repo, [str(c.id) for c in walker], base, create=True)
        new_head, conflicts = built.head, built.conflicts
    if new_head is None:
        return _refused(_with(plan, conflicts=conflicts),
                        f"sync of {agent.name} would conflict in {_listed(conflicts)}: nothing "
                        f"was changed; resolve by hand (git -C {shlex.quote(str(agent.path))} "
                        f"{strategy} {workspace.base_branch}) or let the agent do it")
    env = None if quarantine is None else git_env_for(quarantine, workspace.repo.common_dir)
    changes = tuple(changed_between(workspace.repo.common_dir, agent.head, new_head, env))
    state = worktree_changes(agent.path, agent.head, base)
    if state.error:
        return _refused(plan, f"cannot read the worktree of {agent.name}: {state.error}")
    dirty = (*state.uncommitted, *state.untracked)
    in_the_way = sorted(set(dirty) & set(changes))
    plan = _with(plan, new_head=new_head, changes=changes, uncommitted=tuple(sorted(dirty)))
    if in_the_way:
        return _refused(plan, f"agent {agent.name} has uncommitted changes in "
                        f"{_listed(in_the_way)}, which the sync would rewrite: commit them "
                        f"first, then `gitwarden sync {name}`")
    return plan


def apply_sync(workspace: Workspace, store: Store, agent: Agent,
               strategy: str | None = None, by: str = "user") -> SyncOutcome:
    """Plan again under the agent's pause, then apply; a refusal raises SyncRefused."""
    failure: Exception | None = None
    with rollback_lock(workspace, agent) as lock_fd:
        newly = pauses.pause_agents(store, [agent.name], SYNC_PAUSE_REASON, PAUSED_BY)
        # A pause of a sync that was killed is this sync's to lift (the lock says none runs).
        left = pauses.pause_info(store, agent.name)
        ours = bool(newly) or (left is not None and left.by == PAUSED_BY)
        try:
            interrupted = interrupted_change(store, agent.name)
            if interrupted:
                raise SyncRefused(interrupted)
            current = _fresh_agent(workspace, agent.name)
            plan = plan_sync(workspace, current, strategy)
            if plan.refusal:
                record_event(store, EventKind.SYNC_REFUSED, plan.refusal, agent=agent.name,
                             data=plan.as_json())
                raise SyncRefused(plan.refusal)
            if plan.up_to_date:
                return SyncOutcome(plan)
            assert plan.new_head and plan.head and plan.branch
            backup = create_backup_ref(workspace, current, "sync")
            safety = run_git(["rev-parse", f"{backup}-worktree"],
                             workspace.repo.common_dir).stdout.decode().strip()
            # Logged before the first write: an interrupted sync is undone like a rollback.
            record_id = record_rollback(store, agent=agent.name, target=plan.new_head,
                                        safety=safety, backup_ref=backup, old_head=plan.head,
                                        new_head=plan.new_head, branch=plan.branch,
                                        is_undo=False, completed=False)
            try:
                _move(current, plan, lock_fd)
            except GitwardenError as exc:
                failure = exc
            else:
                mark_completed(store, record_id)
                _follow_in_queue(store, agent.name, plan)
                record_event(store, EventKind.SYNC_APPLIED,
                             f"synced {agent.name} with the base ({plan.strategy}, "
                             f"{plan.behind} commit(s)): {plan.head[:10]} -> "
                             f"{plan.new_head[:10]} (backup {backup})", agent=agent.name,
                             data={**plan.as_json(), "by": by, "backup_ref": backup,
                                   "safety": safety})
                return SyncOutcome(plan, safety, backup, record_id)
        finally:
            if ours and failure is None:
                pauses.resume_agent(store, agent.name)
    # Outside the lock (the undo takes it again), still paused: restore the safety checkpoint.
    try:
        undo_rollback(workspace, store, _fresh_agent(workspace, agent.name))
    except GitwardenError as exc:
        raise SyncRefused(f"sync of {agent.name} stopped ({failure}) and could not be undone "
                          f"({exc.message}); the agent stays paused: run `gitwarden sync "
                          f"{shlex.quote(agent.name)} --undo`, then `gitwarden resume "
                          f"{shlex.quote(agent.name)}`") from exc
    if ours:
        pauses.resume_agent(store, agent.name)
    raise SyncRefused(f"sync of {agent.name} stopped and was undone, everything is as it was "
                      f"(backup {backup}): {failure}")


def interrupted_change(store: Store, agent: str) -> str | None:
    """Why nothing new may start: the agent's last sync or rollback was killed half-way."""
    last = next((r for r in rollbacks(store, agent) if not r.undone), None)
    if last is None or last.completed:
        return None
    return (f"an earlier change of {agent}'s branch (sync, rollback or snapshot) was "
            f"interrupted; put it back first with `gitwarden sync {shlex.quote(agent)} --undo`")


def undo_sync(workspace: Workspace, store: Store, agent: Agent) -> str:
    """Put the agent back as it was before its last sync (or rollback); returns the backup."""
    last = next((r for r in rollbacks(store, agent.name) if not r.undone), None)
    if last is None:
        raise SyncRefused(f"agent {agent.name} has no sync to undo")
    outcome = undo_rollback(workspace, store, agent)
    return outcome.backup_ref


def idle_for(store: Store, agent: str, now: float | None = None) -> float:
    """Seconds since the agent last wrote a file the daemon saw (inf: never seen)."""
    rows = list_activity(store, agent=agent, limit=1)
    if not rows:
        return float("inf")
    return (now or time.time()) - rows[-1].ts


def _move(agent: Agent, plan: SyncPlan, lock_fd: int) -> None:
    """Branch by compare-and-swap, then index and files from the old tree to the new one."""
    assert plan.branch and plan.head and plan.new_head
    if not update_branch_cas(agent.path, plan.branch, plan.new_head, plan.head,
                             f"gitwarden sync {plan.strategy}"):
        raise GitError(f"branch {plan.branch} moved while syncing; nothing was changed")
    try:
        run_git(["read-tree", "-m", "-u", plan.head, plan.new_head], agent.path,
                pass_fds=(lock_fd,))
    except GitError as exc:
        update_branch_cas(agent.path, plan.branch, plan.head, plan.new_head,
                          "gitwarden sync: put back")
        raise GitError(f"the worktree could not be updated: {exc.message}") from exc
    run_git(["update-index", "-q", "--refresh"], agent.path, check=False, pass_fds=(lock_fd,))


def _follow_in_queue(store: Store, agent: str, plan: SyncPlan) -> None:
    """An agent waiting to land is queued at its synced head (the old one left its branch)."""
    for entry in queue.waiting(store):
        if entry.agent == agent and entry.head == plan.head and plan.new_head:
            queue.enqueue(store, agent, plan.new_head, entry.strategy, by=entry.by)


def _fresh_agent(workspace: Workspace, name: str) -> Agent:
    return type(workspace)(repo=workspace.repo, config=workspace.config).agent(name)


def _refused(plan: SyncPlan, reason: str) -> SyncPlan:
    return _with(plan, refusal=reason)


def _with(plan: SyncPlan, **changes: Any) -> SyncPlan:
    return SyncPlan(**{**plan.__dict__, **changes})


def _listed(paths: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(paths[:5])
    return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
