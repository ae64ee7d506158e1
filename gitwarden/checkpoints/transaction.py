"""Changing an agent's branch, index or files as a journaled transaction.

plan -> preflight (git locks, paths in the way, free space, stash budget) -> journal entry ->
pause the agent (hooks deny, registered processes stopped) -> save (safety checkpoint, backup
ref, the stash for bytes no checkpoint holds) -> apply (compare-and-swap on the branch first)
-> record -> resume (only if the agent was not paused before).
A failure while applying puts the saved state back; a kill leaves a journal entry that
`recover` (run by the next gitwarden command about this agent) finishes or rolls back.
Files no checkpoint can hold are never overwritten unsaved: by default they are left in place
and reported (`kept`); with `include_unheld` they are stashed first.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import journal
from gitwarden.checkpoints.chain import backup_index_tree, info_from_commit, tree_changes
from gitwarden.checkpoints.moves import (
    AgentState,
    CommitLanded,
    Move,
    apply_move,
    current_head,
    disk_paths_under,
    reverse_move,
    split_by_tree,
)
from gitwarden.checkpoints.rollback_plan import refuse_if_busy, split_nested
from gitwarden.checkpoints.stash import StashEntry, check_budget, matches, stash_file
from gitwarden.checkpoints.take import create_backup_ref, open_worktree_repo
from gitwarden.checkpoints.writers import group_members, open_for_writing
from gitwarden.coordination import pauses
from gitwarden.coordination.processes import process_state, signal_group
from gitwarden.errors import GitwardenError
from gitwarden.git.objects import tree_entry
from gitwarden.git.runner import run_git, split_z
from gitwarden.store.db import Store


@dataclass(frozen=True)
class Transaction:
    entry_id: int
    kind: str
    saved: AgentState
    target: AgentState
    backup_ref: str
    move: Move
    kept: tuple[str, ...]  # unheld files left in place
    stashed: tuple[StashEntry, ...]


def recover_command(agent_name: str) -> str:
    return f"gitwarden rollback {shlex.quote(agent_name)} --recover"


def preflight_locks(workspace: Workspace, agent: Agent) -> None:
    """Refuse while git holds a lock the move needs; name the lock file."""
    refuse_if_busy(agent.git_dir, agent.name)
    common = workspace.repo.common_dir
    candidates = [agent.git_dir / "index.lock", agent.git_dir / "HEAD.lock"]
    if agent.branch:
        candidates.append(common / "refs" / "heads" / f"{agent.branch}.lock")
    candidates.append(common / "packed-refs.lock")
    for lock in candidates:
        if lock.exists():
            raise GitwardenError(
                f"{lock} exists: git is working in {agent.name}, or a killed git left it "
                f"behind; nothing was changed. Retry when git is done (if no git process is "
                f"running, remove it: rm {shlex.quote(str(lock))})")


def hold(store: Store, agent_name: str, kind: str) -> None:
    pauses.pause_agents(store, [agent_name],
                        f"gitwarden {kind} in progress (if it was interrupted, the user "
                        f"runs: {recover_command(agent_name)})", "gitwarden")
    _signal(store, agent_name, signal.SIGSTOP)


def release(store: Store, agent_name: str) -> None:
    pauses.resume_agent(store, agent_name)
    _signal(store, agent_name, signal.SIGCONT)


# How often a paused process holding a worktree file open for writing is let run on for a
# moment before the transaction gives up on it.
_SETTLE_ATTEMPTS = 40


def _settle(store: Store, agent: Agent) -> dict[str, int]:
    """Pause the agent's processes at a point where none holds a worktree file open for
    writing; returns those still holding one ({path: pid}) after trying."""
    groups = [p.pgid for p in pauses.agent_processes(store, agent.name)
              if p.pgid != os.getpgid(0)]
    writers: dict[str, int] = {}
    for attempt in range(_SETTLE_ATTEMPTS):
        writers = open_for_writing(group_members(groups), agent.path)
        if not writers:
            return {}
        _signal(store, agent.name, signal.SIGCONT)
        time.sleep(0.001 * (attempt + 1))
        _signal(store, agent.name, signal.SIGSTOP)
    return writers


def _signal(store: Store, agent_name: str, signum: signal.Signals) -> None:
    signalled = [process.pgid for process in pauses.agent_processes(store, agent_name)
                 if process.pgid != os.getpgid(0)
                 and signal_group(process.pgid, process.start_time, signum)]
    if signum != signal.SIGSTOP:
        return
    # kill() returns before the process has stopped: wait until it has, so that no write of
    # it lands between the save and the move.
    deadline = time.monotonic() + 2.0
    for pgid in signalled:
        while process_state(pgid) not in (None, "T", "t", "Z") and time.monotonic() < deadline:
            time.sleep(0.0005)


def _unheld_in_way(repo: pygit2.Repository, worktree: Path, held: pygit2.Tree,
                   rel: str) -> list[str]:
    """Files on disk that writing `rel` would replace and that `held` does not hold."""
    found: list[str] = []
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        prefix = "/".join(parts[:depth])
        full = worktree / prefix
        if full.is_symlink() or (full.exists() and not full.is_dir()):
            if not holds(held, prefix):
                found.append(prefix)
            return found
    full = worktree / rel
    if full.is_dir() and not full.is_symlink():
        found += [p for p in disk_paths_under(worktree, [rel]) if not holds(held, p)]
    elif os.path.lexists(full) and not holds(held, rel):
        found.append(rel)
    return found


def holds(tree: pygit2.Tree, rel: str) -> bool:
    entry = tree_entry(tree, rel)
    return entry is not None and int(entry.filemode) != 0o040000


def held_cap(workspace: Workspace) -> int:
    return workspace.config.checkpoints.max_untracked_size


# An ignored directory with more files than this (node_modules, build output) is recorded as
# one `dir/` entry rather than file by file.
_EXPAND_LIMIT = 1000


def unheld_paths(worktree: Path, max_untracked_size: int) -> list[str]:
    """Ignored files (a big ignored directory as `dir/`) and untracked files over the cap."""
    ignored = split_z(run_git(["ls-files", "-z", "--others", "--ignored", "--exclude-standard",
                               "--directory"], worktree).stdout)
    paths: list[str] = []
    for rel in ignored:
        if rel.endswith("/"):
            inside = disk_paths_under(worktree, [rel.rstrip("/")], limit=_EXPAND_LIMIT)
            paths += inside if inside is not None else [rel]
        else:
            paths.append(rel)
    untracked = split_z(run_git(["ls-files", "-z", "--others", "--exclude-standard"],
                                worktree).stdout)
    for rel in untracked:
        try:
            if os.lstat(worktree / rel).st_size > max_untracked_size:
                paths.append(rel)
        except OSError:
            continue
    return sorted(p for p in paths if not p.startswith(".gitwarden/"))


def plan_move(repo: pygit2.Repository, worktree: Path, saved: AgentState, target: AgentState,
              *, include_unheld: bool) -> tuple[Move, list[str], list[str]]:
    """(the move, unheld files to stash and replace, unheld files left in place)."""
    held = repo[pygit2.Oid(hex=saved.tree)]
    assert isinstance(held, pygit2.Tree)
    changes, _nested = split_nested(
        repo, tree_changes(repo, pygit2.Oid(hex=saved.tree), pygit2.Oid(hex=target.tree)),
        saved.tree, target.tree)
    deletes = [c.path for c in changes if c.status == "D" and not target.covers(c.path)]
    writes: list[str] = []
    to_stash: list[str] = []
    kept: list[str] = []
    for rel in (c.path for c in changes if c.status != "D"):
        blockers = _unheld_in_way(repo, worktree, held, rel)
        if blockers and not include_unheld:
            kept += [b for b in blockers if b not in kept]
            continue
        to_stash += [b for b in blockers if b not in to_stash]
        writes.append(rel)
    restores = []
    for entry in target.stash:
        if matches(worktree, entry):
            deletes = [d for d in deletes if d != entry.path]  # already as it should be
            continue
        blockers = _unheld_in_way(repo, worktree, held, entry.path)
        to_stash += [b for b in blockers if b not in to_stash]
        restores.append(entry)
        if holds(held, entry.path) and entry.path not in deletes:
            deletes.append(entry.path)
    move = Move(expected_head=saved.head, new_head=target.head, branch=saved.branch,
                index_tree=target.index_tree or target.head or target.tree, tree=target.tree,
                writes=tuple(writes), deletes=tuple(deletes), restores=tuple(restores),
                clear=tuple(to_stash))
    return move, to_stash, kept


def _check_space(repo: pygit2.Repository, workspace: Workspace, worktree: Path, move: Move,
                 stash_bytes: int) -> None:
    needed = 0
    tree = repo[pygit2.Oid(hex=move.tree)]
    assert isinstance(tree, pygit2.Tree)
    for rel in move.writes:
        obj = repo.get(tree[rel].id)
        needed += obj.size if isinstance(obj, pygit2.Blob) else 0
    needed += sum(entry.size for entry in move.restores)
    for where, amount in ((worktree, needed), (workspace.repo.state_dir, stash_bytes)):
        free = shutil.disk_usage(where).free
        if amount and free < amount + 1024 * 1024:
            raise GitwardenError(
                f"not enough free space in {where}: {amount} bytes to write, {free} free; "
                "nothing was changed")


def run_transaction(workspace: Workspace, store: Store, agent: Agent, *, kind: str,
                    target: AgentState, lock_fd: int, include_unheld: bool = False,
                    undoes: int | None = None) -> Transaction:
    """Put the agent in `target`, journaled; raise with the agent in its old state."""
    preflight_locks(workspace, agent)
    was_paused = pauses.is_paused(store, agent.name)
    entry_id = journal.begin(store, agent=agent.name, kind=kind, was_paused=was_paused,
                             undoes=undoes, data={"target": target.as_json()})
    journal.set_marker(workspace, agent.name, True)
    if not was_paused:
        hold(store, agent.name, kind)
    try:
        writers = _settle(store, agent)
        txn = _save(workspace, store, agent, kind, target, entry_id, include_unheld, writers)
    except Exception:
        _finish(workspace, store, agent.name, entry_id, journal.ABORTED, was_paused)
        raise
    state_dir = workspace.repo.ensure_state_dir()
    try:
        apply_move(state_dir, agent.path, txn.move, pass_fds=(lock_fd,))
    except CommitLanded as exc:
        _finish(workspace, store, agent.name, entry_id, journal.ABORTED, was_paused)
        raise GitwardenError(f"{kind} of {agent.name} stopped: {exc}; an agent commit landed "
                             "meanwhile and nothing was changed. Run it again to roll back "
                             "past that commit") from exc
    except Exception as exc:
        _put_back(workspace, store, agent, txn, lock_fd, was_paused, exc)
    _finish(workspace, store, agent.name, entry_id, journal.DONE, was_paused)
    return txn


def _save(workspace: Workspace, store: Store, agent: Agent, kind: str, target: AgentState,
          entry_id: int, include_unheld: bool, writers: dict[str, int]) -> Transaction:
    backup = create_backup_ref(workspace, agent, kind)
    repo = open_worktree_repo(agent.path)
    safety = repo.get(repo.references[backup + "-worktree"].target)
    assert isinstance(safety, pygit2.Commit)
    info = info_from_commit(safety)
    saved = AgentState(commit=info.commit, tree=info.tree, head=info.head, branch=agent.branch,
                       index_tree=backup_index_tree(repo, backup))
    move, to_stash, kept = plan_move(repo, agent.path, saved, target,
                                     include_unheld=include_unheld)
    busy = sorted(set(writers) & set(move.touched))
    if busy:
        raise GitwardenError(
            f"process {writers[busy[0]]} of {agent.name} keeps {busy[0]} open for writing: "
            f"the {kind} would cut it off from the file and lose what it writes. Nothing was "
            "changed; stop that process or let it finish, then run it again")
    state_dir = workspace.repo.ensure_state_dir()
    # Files left in place are saved too: a later undo may make them part of a checkpoint's
    # view again (an ignore rule restored) and must know they were there.
    saving = [*to_stash, *(rel for rel in kept if rel not in to_stash)]
    stash_bytes = check_budget(state_dir, agent.path, saving,
                               workspace.config.checkpoints.stash_budget, f"{kind} {agent.name}")
    _check_space(repo, workspace, agent.path, move, stash_bytes)
    stashed = tuple(stash_file(state_dir, agent.path, rel) for rel in saving)
    saved = AgentState(commit=saved.commit, tree=saved.tree, head=saved.head,
                       branch=saved.branch, index_tree=saved.index_tree, stash=stashed,
                       unheld=tuple(unheld_paths(agent.path, held_cap(workspace))))
    journal.update(store, entry_id, phase=journal.APPLYING, data={
        "saved": saved.as_json(), "move": move.as_json(), "backup_ref": backup,
        "kept": kept})
    return Transaction(entry_id, kind, saved, target, backup, move, tuple(kept), stashed)


def _put_back(workspace: Workspace, store: Store, agent: Agent, txn: Transaction, lock_fd: int,
              was_paused: bool, cause: Exception) -> None:
    what = f"{txn.kind} of {agent.name} failed ({cause})"
    try:
        _revert(workspace, agent, txn.move, txn.saved, lock_fd)
    except Exception as again:
        raise GitwardenError(
            f"{what}, and putting the saved state back failed too ({again}): {agent.name} is "
            f"half-way (branch, index and files partly changed; every byte is saved in "
            f"{txn.backup_ref} and the stash). Recover with: {recover_command(agent.name)}"
        ) from cause
    _finish(workspace, store, agent.name, txn.entry_id, journal.REVERTED, was_paused)
    raise GitwardenError(f"{what}; {agent.name} was put back as it was, nothing changed "
                         f"(backup {txn.backup_ref})") from cause


def _revert(workspace: Workspace, agent: Agent, move: Move, saved: AgentState,
            lock_fd: int) -> None:
    repo = open_worktree_repo(agent.path)
    now = current_head(agent.path)
    if now not in (move.new_head, move.expected_head):
        raise CommitLanded(f"HEAD is at {str(now)[:10]}, neither the saved nor the new one")
    back = split_by_tree(repo, reverse_move(move, saved, at_head=now))
    apply_move(workspace.repo.ensure_state_dir(), agent.path, back, pass_fds=(lock_fd,))


def _finish(workspace: Workspace, store: Store, agent_name: str, entry_id: int, phase: str,
            was_paused: bool) -> None:
    journal.update(store, entry_id, phase=phase)
    if not was_paused:
        release(store, agent_name)
    if not journal.unfinished(store, agent_name):
        journal.set_marker(workspace, agent_name, False)
    tmp = workspace.repo.state_dir / "tmp"
    if tmp.is_dir() and not journal.unfinished(store):
        # Temporary indexes a killed rollback left (nothing is using them now).
        for leftover in tmp.glob("rollback-index-*"):
            leftover.unlink(missing_ok=True)


def recover(workspace: Workspace, store: Store, agent: Agent, lock_fd: int) -> list[str]:
    """Finish (undo, restore) or roll back (rollback, remove) what a killed command left.

    Returns one line per entry dealt with, saying what state the agent is in now.
    """
    done: list[str] = []
    for entry in reversed(journal.unfinished(store, agent.name)):
        if entry.kind in (journal.KIND_REMOVE, journal.KIND_RESTORE):
            continue  # finished by admin.removal, which owns those
        if entry.phase == journal.SAVING or "move" not in entry.data:
            _finish(workspace, store, agent.name, entry.id, journal.ABORTED, entry.was_paused)
            done.append(f"{agent.name}: an interrupted {entry.kind} had changed nothing")
            continue
        move = Move.from_json(entry.data["move"])
        saved = AgentState.from_json(entry.data["saved"])
        state_dir = workspace.repo.ensure_state_dir()
        # Whatever was written since the kill is saved before the files move again.
        create_backup_ref(workspace, agent, "recover")
        if entry.kind == journal.KIND_UNDO:
            apply_move(state_dir, agent.path, move, pass_fds=(lock_fd,))
            _finish(workspace, store, agent.name, entry.id, journal.DONE, entry.was_paused)
            done.append(f"{agent.name}: finished the interrupted undo")
        else:
            try:
                _revert(workspace, agent, move, saved, lock_fd)
            except CommitLanded as exc:
                raise GitwardenError(
                    f"an interrupted {entry.kind} of {agent.name} cannot be rolled back: "
                    f"{exc}. Nothing was changed now; every byte from before it is in "
                    f"{entry.data.get('backup_ref')} and the stash. Put HEAD back at "
                    f"{str(move.expected_head)[:10]} or {str(move.new_head)[:10]} (git reset "
                    f"--soft), then run: {recover_command(agent.name)}") from exc
            _finish(workspace, store, agent.name, entry.id, journal.REVERTED, entry.was_paused)
            done.append(f"{agent.name}: rolled back the interrupted {entry.kind}; the agent "
                        "is as it was before it")
    return done
