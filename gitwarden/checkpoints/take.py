"""Checkpoints of agents, as the rest of gitwarden uses them.

    take_checkpoint(workspace, agent, changed_paths=None, message=None, clean=False)
    safety_checkpoint(workspace, agent, reason) -> commit id holding the current state
    create_backup_ref(workspace, agent, label) -> refs/gitwarden/backups/<agent>/...
    mark_clean(workspace, agent_name, commit) / last_clean_commit(workspace, agent_name)

Nothing here writes an agent's index, HEAD or files: snapshots are read-only.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pygit2

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import freshness
from gitwarden.checkpoints.chain import (
    BACKUP_REF_PREFIX,
    INDEX_REF_SUFFIX,
    CheckpointInfo,
    RefConflict,
    advance_ref_cas,
    chain_tip,
    checkpoint_ref,
    create_checkpoint_commit,
    describe_lock,
    index_commit,
    info_from_commit,
    lock_is_stale,
    ref_lock_path,
    tree_changes,
    update_ref_cas,
)
from gitwarden.checkpoints.chain import build_message as build_checkpoint_message
from gitwarden.checkpoints.chain_lock import ChainLock, chain_lock
from gitwarden.checkpoints.snapshot import (
    UNMERGED_REASON,
    Snapshot,
    SnapshotSkipped,
    full_snapshot,
    incremental_snapshot,
    object_store_problem,
    snapshot_by_git,
    snapshot_from_status,
)
from gitwarden.checkpoints.table import KIND_CHECKPOINT, KIND_COMMIT, add_clean_mark, clean_marks
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.git.repository import common_dir_of
from gitwarden.git.status_scan import StatusScan, Unmerged
from gitwarden.git.worktrees import operation_in_progress
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event

CAS_ATTEMPTS = 8

Status = Literal["created", "unchanged", "skipped"]


@dataclass(frozen=True)
class CheckpointResult:
    agent: str
    status: Status
    commit: str | None
    reason: str | None = None
    left_out: list[str] = field(default_factory=list)
    incremental: bool = False

    def as_json(self) -> dict[str, object]:
        return {"agent": self.agent, "status": self.status, "commit": self.commit,
                "reason": self.reason, "left_out": list(self.left_out),
                "incremental": self.incremental}


def resolve_agent(workspace: Workspace, agent: Agent | str) -> Agent:
    return workspace.agent(agent) if isinstance(agent, str) else agent


def open_worktree_repo(path: Path) -> pygit2.Repository:
    """A pygit2 repository for one worktree, with a clear error when libgit2 refuses it."""
    try:
        return pygit2.Repository(str(path))
    except pygit2.GitError as exc:
        text = str(exc)
        hint = ""
        if "relativeworktrees" in text or "extension" in text:
            hint = " (libgit2 needs `extensions.relativeworktrees` support; recreate the " \
                   "worktree without --relative-paths)"
        raise GitwardenError(f"cannot open worktree {path}: {text}{hint}") from exc


@contextmanager
def _store_for(workspace: Workspace, store: Store | None) -> Iterator[Store]:
    if store is not None:
        yield store
        return
    opened = Store.open(workspace.repo)
    try:
        yield opened
    finally:
        opened.close()


def take_checkpoint(workspace: Workspace, agent: Agent | str, *,
                    changed_paths: Iterable[str] | None = None, message: str | None = None,
                    clean: bool = False, store: Store | None = None,
                    kind: str = "auto", scan: StatusScan | None = None) -> CheckpointResult:
    """Snapshot the agent's worktree into a new checkpoint (or report it unchanged/skipped).

    `scan` is a `git status` of the worktree already started by the caller (the CLI starts it
    before importing pygit2); a full snapshot starts its own otherwise.
    """
    target = resolve_agent(workspace, agent)
    if not target.exists:
        if scan is not None:
            scan.cancel()
        return CheckpointResult(target.name, "skipped", None, f"worktree missing: {target.path}")
    started = time.time() if scan is None else scan.started
    if scan is None and changed_paths is None:
        scan = StatusScan(target.path)
    state_dir = workspace.repo.ensure_state_dir()
    try:
        repo = open_worktree_repo(target.path)
        inputs = freshness.signature(repo)
        head = None if repo.head_is_unborn else str(repo.head.target)
        max_size = workspace.config.checkpoints.max_untracked_size
        base_tree = None
        if changed_paths is not None:
            changed_paths = list(changed_paths)
            base_tree = _trusted_base_tree(repo, state_dir, target.name, changed_paths, inputs)
        try:
            snapshot = _snapshot(repo, changed_paths, base_tree, max_size, scan, head)
        except UnicodeError:
            if operation_in_progress(target.git_dir):
                raise SnapshotSkipped("a git operation is in progress") from None
            snapshot = snapshot_by_git(repo, max_untracked_size=max_size)
    except SnapshotSkipped as exc:
        operation = operation_in_progress(target.git_dir)
        reason = exc.reason if operation is None else f"{operation} in progress: {exc.reason}"
        tip = chain_tip(repo, target.name)
        return CheckpointResult(target.name, "skipped", str(tip.id) if tip else None, reason)
    finally:
        if scan is not None:
            scan.cancel()
    base = _base_commit(workspace, repo, head)
    with chain_lock(state_dir, target.name) as held:
        result = _commit_with_cas(repo, target, snapshot, head=head, base=base,
                                  message=message, kind=kind, held=held)
    if result.commit is not None:
        freshness.record_base(state_dir, target.name, result.commit, inputs,
                              freshness.signature(repo), started)
    if result.commit and (clean or result.left_out):
        with _store_for(workspace, store) as opened:
            if clean:
                mark_clean(workspace, target.name, result.commit, store=opened)
            if result.left_out and result.status == "created":
                _report_left_out(opened, target.name, result)
    return result


# Files an agent deletes or replaces while libgit2 scans them make the scan fail ("error
# reading file for hashing"); the worktree is then mid-change, so look again shortly.
_SCAN_ATTEMPTS = 5


def _trusted_base_tree(repo: pygit2.Repository, state_dir: Path, agent_name: str,
                       changed_paths: list[str], inputs: freshness.Signature
                       ) -> pygit2.Oid | None:
    """The tree an incremental snapshot may start from; None: take a full one (see
    checkpoints.freshness for when a changed-path set is not enough)."""
    tip = chain_tip(repo, agent_name)
    if tip is None or freshness.rule_change(changed_paths) is not None or \
            not freshness.trusted_base(state_dir, agent_name, str(tip.id), inputs):
        return None
    return tip.tree_id


def _snapshot(repo: pygit2.Repository, changed_paths: list[str] | None,
              base_tree: pygit2.Oid | None, max_size: int, scan: StatusScan | None,
              head: str | None) -> Snapshot:
    for attempt in range(_SCAN_ATTEMPTS):
        try:
            if attempt == 0 and scan is not None and changed_paths is None:
                scanned = _snapshot_from_scan(repo, scan, head, max_size)
                if scanned is not None:
                    return scanned
            return _snapshot_once(repo, changed_paths, base_tree, max_size)
        except (OSError, pygit2.GitError) as exc:
            problem = object_store_problem(Path(common_dir_of(repo.path)))
            if problem is not None:
                raise SnapshotSkipped(problem) from exc
            if attempt == _SCAN_ATTEMPTS - 1:
                raise SnapshotSkipped(f"worktree kept changing during the scan: {exc}") from exc
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _snapshot_once(repo: pygit2.Repository, changed_paths: list[str] | None,
                   base_tree: pygit2.Oid | None, max_size: int) -> Snapshot:
    if changed_paths is not None and base_tree is not None:
        snapshot = incremental_snapshot(repo, base_tree, changed_paths,
                                        max_untracked_size=max_size)
        if snapshot is not None:
            return snapshot
    return full_snapshot(repo, max_untracked_size=max_size)


def _snapshot_from_scan(repo: pygit2.Repository, scan: StatusScan, head: str | None,
                        max_size: int) -> Snapshot | None:
    """A full snapshot from a `git status` run beside; None to scan with libgit2 instead."""
    try:
        result = scan.result()
    except Unmerged as exc:
        raise SnapshotSkipped(UNMERGED_REASON) from exc
    if result is None or result.head != head:
        return None  # git could not tell, or HEAD moved meanwhile: look again ourselves
    head_tree = _head_tree(repo, head)
    if head is not None and head_tree is None:
        return None
    changes = [(e.path, e.kind, e.index_oid, e.index_mode) for e in result.entries]
    return snapshot_from_status(repo, head_tree, changes, max_untracked_size=max_size)


def _commit_with_cas(repo: pygit2.Repository, agent: Agent, snapshot: Snapshot, *,
                     head: str | None, base: str | None, message: str | None,
                     kind: str, held: ChainLock) -> CheckpointResult:
    left_out = list(snapshot.left_out)
    delay = 0.005
    for _attempt in range(CAS_ATTEMPTS):
        tip = chain_tip(repo, agent.name)
        previous = info_from_commit(tip) if tip is not None else None
        if previous is not None and previous.tree == str(snapshot.tree) \
                and previous.head == head:
            return CheckpointResult(agent.name, "unchanged", previous.commit, None, left_out,
                                    snapshot.incremental)
        old_tree = tip.tree_id if tip is not None else _head_tree(repo, head)
        changes = tree_changes(repo, old_tree, snapshot.tree, snapshot.trees)
        text = build_checkpoint_message(agent=agent.name, worktree=agent.path, head=head,
                                        base=base, changes=changes, message=message,
                                        left_out=left_out, kind=kind)
        commit = create_checkpoint_commit(repo, tree=snapshot.tree,
                                          previous=previous.commit if previous else None,
                                          head=head, message=text)
        try:
            advance_ref_cas(repo, checkpoint_ref(agent.name), commit,
                            previous.commit if previous else None,
                            message=f"gitwarden checkpoint {agent.name}", held=held)
        except RefConflict:
            lock = ref_lock_path(Path(common_dir_of(repo.path)), checkpoint_ref(agent.name))
            if lock.exists() and (_attempt >= 2 or lock_is_stale(lock)):
                raise GitwardenError(f"cannot update {checkpoint_ref(agent.name)}: "
                                     f"{describe_lock(lock)}") from None
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.2)
            continue
        return CheckpointResult(agent.name, "created", commit, None, left_out,
                                snapshot.incremental)
    raise GitwardenError(f"could not update {checkpoint_ref(agent.name)}: it kept changing "
                         f"({CAS_ATTEMPTS} attempts)")


def _head_tree(repo: pygit2.Repository, head: str | None) -> pygit2.Oid | None:
    if head is None:
        return None
    commit = repo.get(head)
    return commit.tree_id if isinstance(commit, pygit2.Commit) else None


def _base_commit(workspace: Workspace, repo: pygit2.Repository, head: str | None) -> str | None:
    if head is None:
        return None
    try:
        base_ref = repo.revparse_single(workspace.base_branch)
        base_commit = base_ref.peel(pygit2.Commit)
        merge_base = repo.merge_base(base_commit.id, pygit2.Oid(hex=head))
    except (GitwardenError, KeyError, ValueError, pygit2.GitError):
        return None
    return str(merge_base) if merge_base is not None else None


def _report_left_out(store: Store, agent_name: str, result: CheckpointResult) -> None:
    shown = ", ".join(result.left_out[:5]) + (" ..." if len(result.left_out) > 5 else "")
    record_event(store, EventKind.CHECKPOINT_LEFT_OUT,
                 f"checkpoint of {agent_name} left out {len(result.left_out)} untracked "
                 f"file(s) over the size cap: {shown}",
                 agent=agent_name, severity="warning",
                 data={"commit": result.commit, "paths": result.left_out[:100]})


def safety_checkpoint(workspace: Workspace, agent: Agent | str, reason: str) -> str:
    """The id of a checkpoint holding the agent's current state (taken now if needed)."""
    target = resolve_agent(workspace, agent)
    result = take_checkpoint(workspace, target, message=f"safety: {reason}", kind="safety")
    if result.status == "skipped" or result.commit is None:
        raise GitwardenError(f"cannot take a safety checkpoint of {target.name}: "
                             f"{result.reason or 'no state to save'}")
    return result.commit


_LABEL = re.compile(r"[^A-Za-z0-9._-]+")


def create_backup_ref(workspace: Workspace, agent: Agent | str, label: str) -> str:
    """refs/gitwarden/backups/<agent>/<time>-<label> at the agent's HEAD.

    A companion ref `<that>-worktree` points at a safety checkpoint of the worktree, so the
    uncommitted state is kept too (and survives pruning of the checkpoint chain), and
    `<that>-index` at a commit whose tree is the agent's index (staged content that is in
    neither HEAD nor the files), when the index can be written as a tree.
    """
    target = resolve_agent(workspace, agent)
    safety = safety_checkpoint(workspace, target, reason=label)
    repo = open_worktree_repo(target.path)
    head = None if repo.head_is_unborn else str(repo.head.target)
    index_oid = index_commit(repo, target.name, head, label)
    slug = _LABEL.sub("-", label).strip("-.") or "backup"
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for counter in range(100):
        suffix = "" if counter == 0 else f"-{counter}"
        name = f"{BACKUP_REF_PREFIX}{target.name}/{stamp}{suffix}-{slug}"
        try:
            update_ref_cas(target.path, name + "-worktree", safety, None,
                           message=f"gitwarden backup {label}")
        except RefConflict:
            continue
        if index_oid is not None:
            update_ref_cas(target.path, name + INDEX_REF_SUFFIX, index_oid, None,
                           message=f"gitwarden backup {label}")
        update_ref_cas(target.path, name, head or safety, None,
                       message=f"gitwarden backup {label}")
        return name
    raise GitwardenError(f"could not create a backup ref for {target.name}")


def mark_clean(workspace: Workspace, agent_name: str, commit: str, store: Store | None = None,
               *, source: str = "user") -> None:
    """Record that `commit` (a checkpoint of the agent, or a commit of its branch) is clean."""
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    resolved = _resolve_commit(repo, commit)
    info = info_from_commit(resolved)
    with _store_for(workspace, store) as opened:
        if info.agent == agent_name:
            add_clean_mark(opened, agent_name, info.original, kind=KIND_CHECKPOINT,
                           head=info.head, source=source)
        else:
            add_clean_mark(opened, agent_name, str(resolved.id), kind=KIND_COMMIT,
                           head=str(resolved.id), source=source)


def _resolve_commit(repo: pygit2.Repository, commit: str) -> pygit2.Commit:
    try:
        obj = repo.revparse_single(commit)
        resolved = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
        raise UsageError(f"{commit!r} is not a commit in this repository") from exc
    assert isinstance(resolved, pygit2.Commit)
    return resolved


@dataclass(frozen=True)
class CleanSet:
    """What an agent has known clean: checkpoint ids marked clean, and the trees of branch
    commits marked clean (a checkpoint with no uncommitted work at such a commit has its tree).
    """
    ids: frozenset[str] = frozenset()
    trees: frozenset[str] = frozenset()


def clean_set(repo: pygit2.Repository, store: Store, agent_name: str) -> CleanSet:
    marks = clean_marks(store, agent_name)
    trees: set[str] = set()
    for mark in marks:
        if mark.kind != KIND_COMMIT:
            continue
        commit = repo.get(mark.commit)
        if isinstance(commit, pygit2.Commit):
            trees.add(str(commit.tree_id))
    return CleanSet(frozenset(mark.commit for mark in marks), frozenset(trees))


def is_clean(info: CheckpointInfo, clean: CleanSet) -> bool:
    return info.original in clean.ids or info.commit in clean.ids or info.tree in clean.trees


def clean_commit_target(repo: pygit2.Repository, store: Store, agent_name: str,
                        commit: str) -> CheckpointInfo | None:
    """A rollback target made from a branch commit marked clean: HEAD = it, files = its tree.

    None when `commit` is not marked clean for the agent. `time` is when it was marked.
    """
    marked = [m for m in clean_marks(store, agent_name)
              if m.kind == KIND_COMMIT and m.commit == commit]
    resolved = repo.get(commit)
    if not marked or not isinstance(resolved, pygit2.Commit):
        return None
    title = resolved.message.splitlines()[0] if resolved.message else ""
    return CheckpointInfo(commit=commit, tree=str(resolved.tree_id), time=marked[0].ts,
                          agent=agent_name, head=commit, base=None, worktree=None, changed=0,
                          summary=f"clean commit {commit[:10]}: {title}", kind="commit",
                          previous=None, original=commit)


def last_clean_commit(workspace: Workspace, agent_name: str,
                      store: Store | None = None) -> str | None:
    """The newest commit of the agent's branch known clean (by a clean checkpoint or a mark).

    Among marked commits, those on the agent's current history win, and of those the one
    that descends from all the others (the most recent on the line); otherwise the newest mark.
    """
    with _store_for(workspace, store) as opened:
        marks = clean_marks(opened, agent_name)
    heads: list[str] = []
    for mark in marks:
        if mark.head and mark.head not in heads:
            heads.append(mark.head)
    if not heads:
        return None
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    existing = [h for h in heads if repo.get(h) is not None]
    if not existing:
        return None
    current = _agent_head(workspace, agent_name)
    on_line = [h for h in existing if current is not None and _reachable(repo, current, h)]
    candidates = on_line or existing
    best = candidates[0]
    for other in candidates[1:]:
        if other != best and repo.descendant_of(other, best):
            best = other
    return best


def _agent_head(workspace: Workspace, agent_name: str) -> str | None:
    for agent in workspace.agents:
        if agent.name == agent_name:
            return agent.head
    return None


def _reachable(repo: pygit2.Repository, tip: str, commit: str) -> bool:
    return tip == commit or bool(repo.descendant_of(tip, commit))
