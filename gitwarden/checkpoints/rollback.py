"""Listing, rolling back, undoing and pruning checkpoints: the user commands' operations."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pygit2

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.chain import (
    CheckpointInfo,
    RefConflict,
    checkpoint_ref,
    delete_ref_cas,
    info_from_commit,
    read_chain,
    update_ref_cas,
)
from gitwarden.checkpoints.retention import RetentionPolicy, plan_prune, rewrite_chain
from gitwarden.checkpoints.rollback_plan import (
    RollbackPlan,
    apply_rollback,
    plan_rollback,
    refuse_if_busy,
    restore_index,
)
from gitwarden.checkpoints.table import (
    mark_completed,
    protected_commits,
    record_rollback,
    remap_commits,
    rollbacks,
)
from gitwarden.checkpoints.take import (
    backup_index_tree,
    clean_commit_target,
    clean_set,
    create_backup_ref,
    is_clean,
    last_clean_commit,
    open_worktree_repo,
    resolve_agent,
)
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event
from gitwarden.store.write_journal import own_writes

if TYPE_CHECKING:
    from gitwarden.checkpoints.table import RollbackRecord


@dataclass(frozen=True)
class ListedCheckpoint:
    info: CheckpointInfo
    clean: bool

    def as_json(self) -> dict[str, object]:
        return {**self.info.as_json(), "clean": self.clean}


def list_checkpoints(workspace: Workspace, store: Store, agents: list[Agent],
                     limit: int | None = None) -> list[ListedCheckpoint]:
    """Checkpoints of the agents, newest first."""
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    listed: list[ListedCheckpoint] = []
    for agent in agents:
        clean = clean_set(repo, store, agent.name)
        for info in read_chain(repo, agent.name, limit):
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


def preview_rollback(workspace: Workspace, agent: Agent, target: CheckpointInfo) -> RollbackPlan:
    refuse_if_busy(agent.git_dir, agent.name)
    repo = open_worktree_repo(agent.path)
    return plan_rollback(repo, agent=agent.name, worktree=agent.path, branch=agent.branch,
                         target=target,
                         max_untracked_size=workspace.config.checkpoints.max_untracked_size)


@dataclass(frozen=True)
class RollbackOutcome:
    plan: RollbackPlan
    safety: str
    backup_ref: str
    rollback_id: int


# How long a rollback waits for another one of the same agent (or the git children a killed
# one left running) to finish.
LOCK_WAIT_SECONDS = 60.0


@contextmanager
def rollback_lock(workspace: Workspace, agent: Agent) -> Iterator[int]:
    """An exclusive per-agent lock for rolling back; yields the locked file descriptor.

    The descriptor is handed down to the git processes a rollback runs, so if gitwarden is
    killed, the lock stays held until the last of its git children (which go on writing the
    index or files) has exited: the next rollback or undo then sees the finished state instead
    of racing with those writes.
    """
    locks = workspace.repo.ensure_state_dir() / "locks"
    locks.mkdir(exist_ok=True)
    fd = os.open(locks / f"rollback-{agent.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GitwardenError(f"another rollback of {agent.name} is still running "
                                         "(or its git processes are)") from None
                time.sleep(0.02)
        yield fd
    finally:
        os.close(fd)


def rollback(workspace: Workspace, store: Store, agent: Agent | str,
             target: CheckpointInfo) -> RollbackOutcome:
    """Safety checkpoint + backup ref, then restore the agent to `target`."""
    resolved = resolve_agent(workspace, agent)
    with rollback_lock(workspace, resolved) as lock_fd:
        return _rollback_locked(workspace, store, resolved, target, lock_fd=lock_fd)


def _rollback_locked(workspace: Workspace, store: Store, resolved: Agent,
                     target: CheckpointInfo, *, lock_fd: int,
                     undoes: int | None = None,
                     index_tree: str | None = None) -> RollbackOutcome:

    is_undo = undoes is not None
    if not resolved.exists:
        raise GitwardenError(f"agent {resolved.name}: worktree missing: {resolved.path}")
    refuse_if_busy(resolved.git_dir, resolved.name)
    label = "undo" if is_undo else "rollback"
    backup = create_backup_ref(workspace, resolved, label)
    repo = open_worktree_repo(resolved.path)
    safety = str(repo.references[backup + "-worktree"].target)
    safety_commit = repo[pygit2.Oid(hex=safety)]
    assert isinstance(safety_commit, pygit2.Commit)
    safety_info = info_from_commit(safety_commit)
    plan = plan_rollback(repo, agent=resolved.name, worktree=resolved.path,
                         branch=resolved.branch, target=target,
                         max_untracked_size=workspace.config.checkpoints.max_untracked_size,
                         current_tree=safety_info.tree)
    # Logged before anything is touched: a rollback killed half-way is undone like any other.
    rollback_id = record_rollback(store, agent=resolved.name, target=target.commit,
                                  safety=safety, backup_ref=backup, old_head=plan.current_head,
                                  new_head=target.head, branch=resolved.branch, is_undo=is_undo,
                                  completed=False, undoes=undoes)
    # what the rollback writes is gitwarden's, never the agent's (the daemon reads this)
    with own_writes(workspace.repo.ensure_state_dir(), resolved.path,
                    [change.path for change in plan.changes]):
        apply_rollback(repo, plan, workspace.repo.ensure_state_dir() / "tmp",
                       pass_fds=(lock_fd,))
        if index_tree is not None:
            restore_index(resolved.path, index_tree, pass_fds=(lock_fd,))
    mark_completed(store, rollback_id)
    verb = "undid the last rollback of" if is_undo else "rolled back"
    record_event(store, EventKind.ROLLBACK_APPLIED,
                 f"{verb} {resolved.name} to checkpoint {target.commit[:10]} "
                 f"(safety checkpoint {safety[:10]}, backup {backup})", agent=resolved.name,
                 severity="warning",
                 data={"target": target.commit, "safety": safety, "backup_ref": backup,
                       "files": len(plan.changes), "undo": is_undo})
    return RollbackOutcome(plan, safety, backup, rollback_id)


def undo_target(workspace: Workspace, store: Store,
                agent: Agent) -> tuple[RollbackRecord, CheckpointInfo]:
    """The state right before the last rollback not undone (an interrupted one counts)."""

    record = next((r for r in rollbacks(store, agent.name) if not r.undone), None)
    if record is None:
        raise UsageError(f"agent {agent.name} has no rollback to undo")
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    commit = repo.get(record.safety)
    if not isinstance(commit, pygit2.Commit):
        raise GitwardenError(f"the safety checkpoint {record.safety[:10]} of the last "
                             f"rollback is gone; see {record.backup_ref}")
    return record, info_from_commit(commit)


def undo_rollback(workspace: Workspace, store: Store, agent: Agent) -> RollbackOutcome:
    with rollback_lock(workspace, agent) as lock_fd:
        record, target = undo_target(workspace, store, agent)
        # The agent's index as saved with that rollback's backup (none for older backups).
        index_tree = None if record.backup_ref is None else backup_index_tree(
            pygit2.Repository(str(workspace.repo.common_dir)), record.backup_ref)
        return _rollback_locked(workspace, store, agent, target, lock_fd=lock_fd,
                                undoes=record.id, index_tree=index_tree)


@dataclass(frozen=True)
class PruneResult:
    agent: str
    kept: int
    dropped: int
    tip: str | None


def prune(workspace: Workspace, store: Store, agent: Agent, *, keep: int | None = None,
          keep_clean_days: float | None = None, dry_run: bool = False,
          now: float | None = None) -> PruneResult:
    """Apply retention to one agent's chain (compare-and-swap on the chain ref)."""

    settings = workspace.config.checkpoints
    policy = RetentionPolicy(keep=keep if keep is not None else settings.keep,
                             keep_clean_seconds=(keep_clean_days if keep_clean_days is not None
                                                 else settings.keep_clean_days) * 86400.0)
    current = time.time() if now is None else now
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    for _attempt in range(5):
        chain = read_chain(repo, agent.name)
        clean = clean_set(repo, store, agent.name)
        protected = protected_commits(store, agent.name, current - policy.keep_clean_seconds)
        plan = plan_prune(chain, policy, now=current,
                          is_clean=lambda info, known=clean: is_clean(info, known),  # type: ignore[misc]
                          protected=protected)
        if not plan.dropped or dry_run:
            return PruneResult(agent.name, len(plan.kept), len(plan.dropped),
                               chain[0].commit if chain else None)
        new_tip, mapping = rewrite_chain(repo, chain, plan)
        ref = checkpoint_ref(agent.name)
        try:
            if new_tip is None:

                delete_ref_cas(workspace.repo.common_dir, ref, chain[0].commit)
            else:
                update_ref_cas(workspace.repo.common_dir, ref, new_tip, chain[0].commit,
                               message="gitwarden prune")
        except RefConflict:
            continue  # a checkpoint landed meanwhile: plan again
        remap_commits(store, agent.name, mapping)
        return PruneResult(agent.name, len(plan.kept), len(plan.dropped), new_tip)
    raise GitwardenError(f"could not prune {agent.name}: its checkpoint ref kept changing")
