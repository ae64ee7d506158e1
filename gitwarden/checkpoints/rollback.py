"""Listing, rolling back, undoing and pruning checkpoints: the user commands' operations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pygit2

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import journal
from gitwarden.checkpoints.chain import (
    CheckpointInfo,
    FileChange,
    RefConflict,
    backup_index_tree,
    checkpoint_ref,
    delete_ref_cas,
    info_from_commit,
    read_chain,
    update_ref_cas,
)
from gitwarden.checkpoints.chain_lock import chain_lock
from gitwarden.checkpoints.moves import AgentState
from gitwarden.checkpoints.retention import RetentionPolicy, plan_prune, rewrite_chain
from gitwarden.checkpoints.rollback_plan import RollbackPlan, plan_rollback, refuse_if_busy
from gitwarden.checkpoints.table import (
    mark_undone,
    protected_commits,
    remap_commits,
    rollbacks,
)
from gitwarden.checkpoints.take import (
    clean_commit_target,
    clean_set,
    is_clean,
    last_clean_commit,
    open_worktree_repo,
    resolve_agent,
)
from gitwarden.checkpoints.transaction import (
    Transaction,
    plan_move,
    recover,
    run_transaction,
)
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event
from gitwarden.store.state_locks import state_lock


@dataclass(frozen=True)
class ListedCheckpoint:
    info: CheckpointInfo
    clean: bool

    def as_json(self) -> dict[str, object]:
        return {**self.info.as_json(), "clean": self.clean}


def list_checkpoints(workspace: Workspace, store: Store, agents: list[Agent] | list[str],
                     limit: int | None = None) -> list[ListedCheckpoint]:
    """Checkpoints of the agents (or of removed agents, by name), newest first."""
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    listed: list[ListedCheckpoint] = []
    for agent in agents:
        name = agent if isinstance(agent, str) else agent.name
        clean = clean_set(repo, store, name)
        for info in read_chain(repo, name, limit):
            listed.append(ListedCheckpoint(info, is_clean(info, clean)))
    listed.sort(key=lambda item: item.info.time, reverse=True)
    return listed[:limit] if limit is not None else listed


def find_checkpoint(workspace: Workspace, store: Store, agent: Agent,
                    spec: str | None) -> CheckpointInfo:
    """The checkpoint `spec` names (a commit id or prefix, or a branch commit marked clean);
    default: the newest clean checkpoint, or the clean commit when it was marked later and no
    checkpoint holds its tree.
    """
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    chain = read_chain(repo, agent.name)
    if spec is None:
        clean = clean_set(repo, store, agent.name)
        newest = next((info for info in chain if is_clean(info, clean)), None)
        clean_head = last_clean_commit(workspace, agent.name, store)
        from_commit = (clean_commit_target(repo, store, agent.name, clean_head)
                       if clean_head else None)
        if from_commit is not None and (newest is None or (
                from_commit.time > newest.time and from_commit.tree != newest.tree)):
            return from_commit
        if newest is not None:
            return newest
        listing = "; ".join(f"{i.commit[:10]} {time.strftime('%Y-%m-%d %H:%M', time.localtime(i.time))} {i.summary}"  # noqa: E501
                            for i in chain[:5]) or "none"
        raise UsageError(f"agent {agent.name} has no clean checkpoint; choose one with --to "
                         f"(newest: {listing})")
    for info in chain:
        if info.commit.startswith(spec) or info.original.startswith(spec):
            return info
    try:
        commit = repo.revparse_single(spec).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
        raise UsageError(f"{spec!r} is not a checkpoint of {agent.name}") from exc
    info = info_from_commit(commit)
    if info.agent != agent.name:
        from_commit = clean_commit_target(repo, store, agent.name, str(commit.id))
        if from_commit is not None:
            return from_commit
        raise UsageError(f"{spec!r} is not a checkpoint of {agent.name} (see `gitwarden "
                         f"checkpoints {agent.name}`)")
    return info


def preview_rollback(workspace: Workspace, agent: Agent, target: CheckpointInfo, *,
                     include_unheld: bool = False,
                     state: AgentState | None = None) -> RollbackPlan:
    """What a rollback (or, with `state`, an undo) would change now, changing nothing."""
    refuse_if_busy(agent.git_dir, agent.name)
    repo = open_worktree_repo(agent.path)
    plan = plan_rollback(repo, agent=agent.name, worktree=agent.path, branch=agent.branch,
                         target=target,
                         max_untracked_size=workspace.config.checkpoints.max_untracked_size)
    current = AgentState(commit="", tree=plan.current_tree, head=plan.current_head,
                         branch=agent.branch)
    goal = state or AgentState(commit=target.commit, tree=target.tree, head=target.head,
                               branch=agent.branch)
    move, to_stash, kept = plan_move(repo, agent.path, current, goal,
                                     include_unheld=include_unheld)
    touched = set(move.writes) | set(move.deletes)
    return RollbackPlan(agent=plan.agent, worktree=plan.worktree, target=plan.target,
                        current_head=plan.current_head, branch=plan.branch,
                        current_tree=plan.current_tree,
                        changes=[c for c in plan.changes if c.path in touched],
                        kept_nested=plan.kept_nested, kept=kept, stash=to_stash,
                        restores=[e.path for e in move.restores])


@dataclass(frozen=True)
class RollbackOutcome:
    plan: RollbackPlan
    safety: str
    backup_ref: str
    rollback_id: int
    recovered: tuple[str, ...] = ()


# How long a rollback waits for another one of the same agent (or the git children a killed
# one left running) to finish.
LOCK_WAIT_SECONDS = 60.0


@contextmanager
def rollback_lock(workspace: Workspace, agent: Agent | str) -> Iterator[int]:
    """An exclusive per-agent lock for rolling back; yields the locked file descriptor.

    The descriptor is handed down to the git processes a rollback runs, so if gitwarden is
    killed, the lock stays held until the last of its git children (which go on writing the
    index or files) has exited: the next rollback or undo then sees the finished state instead
    of racing with those writes.
    """
    name = agent if isinstance(agent, str) else agent.name
    with state_lock(workspace.repo.ensure_state_dir(), f"rollback-{name}",
                    wait=LOCK_WAIT_SECONDS,
                    busy=lambda: GitwardenError(f"another rollback of {name} is still running "
                                                "(or its git processes are)")) as fd:
        yield fd


def recover_agent(workspace: Workspace, store: Store, agent: Agent,
                  lock_fd: int | None = None) -> list[str]:
    """Finish or roll back what a killed transaction of the agent left (nothing: [])."""
    if not journal.has_pending(workspace, agent.name) and not journal.unfinished(store, agent.name):
        return []
    if lock_fd is not None:
        return recover(workspace, store, agent, lock_fd)
    with rollback_lock(workspace, agent) as fd:
        return recover(workspace, store, agent, fd)


def rollback(workspace: Workspace, store: Store, agent: Agent | str, target: CheckpointInfo,
             *, include_unheld: bool = False) -> RollbackOutcome:
    """Safety checkpoint + backup ref + stash, then restore the agent to `target`."""
    resolved = resolve_agent(workspace, agent)
    if not resolved.exists:
        raise GitwardenError(f"agent {resolved.name}: worktree missing: {resolved.path}")
    if target.head is None:
        raise GitwardenError(f"checkpoint {target.commit[:10]} recorded no HEAD (unborn "
                             "branch): nothing to roll back to")
    with rollback_lock(workspace, resolved) as lock_fd:
        recovered = recover(workspace, store, resolved, lock_fd)
        goal = AgentState(commit=target.commit, tree=target.tree, head=target.head,
                          branch=resolved.branch)
        txn = run_transaction(workspace, store, resolved, kind=journal.KIND_ROLLBACK,
                              target=goal, lock_fd=lock_fd, include_unheld=include_unheld)
    return _outcome(workspace, store, resolved, target, txn, "rolled back", recovered)


def _outcome(workspace: Workspace, store: Store, agent: Agent, target: CheckpointInfo,
             txn: Transaction, verb: str, recovered: list[str]) -> RollbackOutcome:
    move = txn.move
    changes = sorted([FileChange("M", p) for p in move.writes]
                     + [FileChange("D", p) for p in move.deletes if p not in move.writes],
                     key=lambda c: c.path)
    plan = RollbackPlan(agent=agent.name, worktree=agent.path, target=target,
                        current_head=txn.saved.head, branch=agent.branch,
                        current_tree=txn.saved.tree, changes=changes, kept=list(txn.kept),
                        stash=[e.path for e in txn.stashed],
                        restores=[e.path for e in move.restores])
    kept = f"; left in place (no checkpoint holds them): {', '.join(txn.kept[:5])}" \
        if txn.kept else ""
    noun = "clean commit" if target.kind == "commit" else "checkpoint"
    record_event(store, EventKind.ROLLBACK_APPLIED,
                 f"{verb} {agent.name} to {noun} {target.commit[:10]} (safety checkpoint "
                 f"{txn.saved.commit[:10]}, backup {txn.backup_ref}){kept}", agent=agent.name,
                 severity="warning",
                 data={"target": target.commit, "safety": txn.saved.commit,
                       "backup_ref": txn.backup_ref, "files": len(changes),
                       "undo": txn.kind == journal.KIND_UNDO, "kept": list(txn.kept[:100]),
                       "stashed": [e.path for e in txn.stashed][:100],
                       "journal": txn.entry_id})
    return RollbackOutcome(plan, txn.saved.commit, txn.backup_ref, txn.entry_id,
                           tuple(recovered))


@dataclass(frozen=True)
class UndoStep:
    """The next state the undo stack goes back to."""

    state: AgentState
    info: CheckpointInfo
    entry_id: int | None  # a journaled rollback
    legacy_id: int | None = None  # a rollback recorded by older code (or a health revert)


def undo_target(workspace: Workspace, store: Store, agent: Agent) -> UndoStep:
    """The state right before the newest rollback not undone."""
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    stack = journal.undo_stack(store, agent.name)
    legacy = next((r for r in rollbacks(store, agent.name) if not r.undone and not r.is_undo),
                  None)
    top = stack[0] if stack else None
    if legacy is not None and (top is None or legacy.ts > top.ts):
        commit = repo.get(legacy.safety)
        if not isinstance(commit, pygit2.Commit):
            raise GitwardenError(f"the safety checkpoint {legacy.safety[:10]} of the last "
                                 f"rollback is gone; see {legacy.backup_ref}")
        index_tree = None if legacy.backup_ref is None else \
            backup_index_tree(repo, legacy.backup_ref)
        state = AgentState(commit=legacy.safety, tree=str(commit.tree_id), head=legacy.old_head,
                           branch=legacy.branch, index_tree=index_tree)
        return UndoStep(state, _state_info(commit, legacy.old_head), None, legacy.id)
    if top is None:
        raise UsageError(f"agent {agent.name} has no rollback to undo")
    state = AgentState.from_json(top.data["saved"])
    commit = repo.get(state.commit)
    if not isinstance(commit, pygit2.Commit):
        raise GitwardenError(f"the safety checkpoint {state.commit[:10]} of rollback "
                             f"#{top.id} is gone; see {top.data.get('backup_ref')}")
    return UndoStep(state, _state_info(commit, state.head), top.id)


def _state_info(commit: pygit2.Commit, head: str | None) -> CheckpointInfo:
    info = info_from_commit(commit)
    return CheckpointInfo(commit=info.commit, tree=info.tree, time=info.time, agent=info.agent,
                          head=head, base=info.base, worktree=info.worktree,
                          changed=info.changed, summary=info.summary, kind=info.kind,
                          previous=info.previous, original=info.original)


def undo_rollback(workspace: Workspace, store: Store, agent: Agent, *,
                  include_unheld: bool = False) -> RollbackOutcome:
    """Go back one step on the undo stack (an interrupted undo is finished first)."""
    with rollback_lock(workspace, agent) as lock_fd:
        recovered = recover(workspace, store, agent, lock_fd)
        step = undo_target(workspace, store, agent)
        state = replace(step.state, branch=agent.branch)
        txn = run_transaction(workspace, store, agent, kind=journal.KIND_UNDO, target=state,
                              lock_fd=lock_fd, include_unheld=include_unheld,
                              undoes=step.entry_id)
        if step.legacy_id is not None:
            mark_undone(store, step.legacy_id)
    return _outcome(workspace, store, agent, step.info, txn, "undid the last rollback of",
                    recovered)


def history(store: Store, agent: str) -> list[journal.JournalEntry]:
    """The agent's transactions (rollbacks, undos, removal, restore), newest first."""
    return journal.entries(store, agent)


@dataclass(frozen=True)
class PruneResult:
    agent: str
    kept: int
    dropped: int
    tip: str | None


def prune(workspace: Workspace, store: Store, agent: Agent | str, *, keep: int | None = None,
          keep_clean_days: float | None = None, dry_run: bool = False,
          now: float | None = None) -> PruneResult:
    """Apply retention to one agent's chain (compare-and-swap on the chain ref); a removed
    agent is named by a string."""
    name = agent if isinstance(agent, str) else agent.name
    settings = workspace.config.checkpoints
    policy = RetentionPolicy(keep=keep if keep is not None else settings.keep,
                             keep_clean_seconds=(keep_clean_days if keep_clean_days is not None
                                                 else settings.keep_clean_days) * 86400.0)
    current = time.time() if now is None else now
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    # one chain writer at a time: a rewrite that lost the swap would stay behind
    with chain_lock(workspace.repo.ensure_state_dir(), name):
        for _attempt in range(5):
            chain = read_chain(repo, name)
            clean = clean_set(repo, store, name)
            since = current - policy.keep_clean_seconds
            protected = protected_commits(store, name, since) \
                | journal.protected_commits(store, name, since)
            plan = plan_prune(
                chain, policy, now=current,
                is_clean=lambda info, known=clean: is_clean(info, known),  # type: ignore[misc]
                protected=protected)
            if not plan.dropped or dry_run:
                return PruneResult(name, len(plan.kept), len(plan.dropped),
                                   chain[0].commit if chain else None)
            new_tip, mapping = rewrite_chain(repo, chain, plan)
            ref = checkpoint_ref(name)
            try:
                if new_tip is None:

                    delete_ref_cas(workspace.repo.common_dir, ref, chain[0].commit)
                else:
                    update_ref_cas(workspace.repo.common_dir, ref, new_tip, chain[0].commit,
                                   message="gitwarden prune")
            except RefConflict:
                continue  # a checkpoint landed meanwhile: plan again
            remap_commits(store, name, mapping)
            return PruneResult(name, len(plan.kept), len(plan.dropped), new_tip)
    raise GitwardenError(f"could not prune {name}: its checkpoint ref kept changing")
