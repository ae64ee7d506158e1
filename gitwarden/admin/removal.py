"""Removing an agent and restoring it: journaled transactions that lose no byte.

`remove` saves the worktree (safety checkpoint, backup ref with the index and HEAD) and moves
every file no checkpoint can hold (untracked over the size cap, ignored) into the stash, or
refuses, listing them, when they do not fit its budget; only then is the worktree removed.
`restore` re-creates the worktree from the saved state: branch, index, files, stashed files
and its table in gitwarden.toml.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pygit2

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import journal
from gitwarden.checkpoints.chain import backup_index_tree, tree_changes
from gitwarden.checkpoints.moves import AgentState, Move, apply_move
from gitwarden.checkpoints.rollback import recover_agent, rollback_lock
from gitwarden.checkpoints.stash import check_budget, stash_file
from gitwarden.checkpoints.take import create_backup_ref, open_worktree_repo
from gitwarden.checkpoints.transaction import hold, holds, preflight_locks, release
from gitwarden.config import load_config, render_agent_table
from gitwarden.coordination import pauses
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.git.runner import run_git
from gitwarden.store.db import Store


def unheld_files(worktree: Path, tree: pygit2.Tree) -> list[str]:
    """Files on disk the tree does not hold (ignored, or untracked over the size cap)."""
    found: list[str] = []
    for dirpath, dirs, files in os.walk(worktree):
        rel_dir = os.path.relpath(dirpath, worktree)
        if rel_dir == ".":
            # .gitwarden/ holds the context files gitwarden writes (and rewrites) itself.
            files = [f for f in files if f != ".git"]
            dirs[:] = [d for d in dirs if d not in (".git", ".gitwarden")]
        for name in dirs:
            if os.path.lexists(os.path.join(dirpath, name, ".git")):
                nested = os.path.normpath(os.path.join(rel_dir, name))
                raise UsageError(f"{worktree} holds a nested repository {nested}: move it out "
                                 "first (gitwarden never deletes another repository)")
        links = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
        for name in [*files, *links]:
            rel = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
            if not holds(tree, rel):
                found.append(rel)
    return sorted(found)


def remove_saving_everything(workspace: Workspace, store: Store, agent: Agent,
                             table_text: str | None) -> list[str]:
    """Save the worktree (checkpoint + stash), then remove it. Returns what was saved."""
    with rollback_lock(workspace, agent) as _fd:
        recover_agent(workspace, store, agent, _fd)
        preflight_locks(workspace, agent)
        was_paused = pauses.is_paused(store, agent.name)
        entry_id = journal.begin(store, agent=agent.name, kind=journal.KIND_REMOVE,
                                 was_paused=was_paused)
        hold(store, agent.name, "remove")
        try:
            backup = create_backup_ref(workspace, agent, "remove")
            repo = open_worktree_repo(agent.path)
            safety = repo.get(repo.references[backup + "-worktree"].target)
            assert isinstance(safety, pygit2.Commit)
            extra = unheld_files(agent.path, safety.tree)
            state_dir = workspace.repo.ensure_state_dir()
            check_budget(state_dir, agent.path, extra, workspace.config.checkpoints.stash_budget,
                         f"remove {agent.name}")
            stashed = tuple(stash_file(state_dir, agent.path, rel) for rel in extra)
        except Exception:
            journal.update(store, entry_id, phase=journal.ABORTED)
            if not was_paused:
                release(store, agent.name)
            raise
        head = None if repo.head_is_unborn else str(repo.head.target)
        saved = AgentState(commit=str(safety.id), tree=str(safety.tree_id), head=head,
                           branch=agent.branch, index_tree=backup_index_tree(repo, backup),
                           stash=stashed)
        journal.update(store, entry_id, phase=journal.APPLYING, data={
            "saved": saved.as_json(), "backup_ref": backup, "path": str(agent.path),
            "table": table_text})
        run_git(["worktree", "remove", "--force", str(agent.path)],
                workspace.repo.main_worktree)
        journal.update(store, entry_id, phase=journal.DONE)
        if not was_paused:
            release(store, agent.name)  # its processes go on (the worktree is gone)
    lines = [f"saved the worktree as checkpoint {str(safety.id)[:10]} (backup {backup})"]
    if stashed:
        shown = ", ".join(e.path for e in stashed[:5]) + (" ..." if len(stashed) > 5 else "")
        lines.append(f"moved {len(stashed)} file(s) no checkpoint holds into the stash: {shown}")
    lines.append(f"bring it back with: gitwarden agent restore {shlex.quote(agent.name)}")
    return lines


def finish_removal(workspace: Workspace, store: Store, name: str) -> bool:
    """A removal killed after everything was saved is finished (the bytes are saved); one
    killed before is forgotten (nothing was removed). Whether one was finished."""
    finished = False
    for entry in journal.unfinished(store, name):
        if entry.kind != journal.KIND_REMOVE:
            continue
        if entry.phase == journal.APPLYING:
            path = entry.data.get("path")
            if path and Path(path).exists():
                run_git(["worktree", "remove", "--force", path], workspace.repo.main_worktree)
            run_git(["worktree", "prune"], workspace.repo.main_worktree)
            journal.update(store, entry.id, phase=journal.DONE)
            finished = True
        else:
            journal.update(store, entry.id, phase=journal.ABORTED)
        if not entry.was_paused:
            release(store, name)
    journal.set_marker(workspace, name, False)
    return finished


def restore_agent(workspace: Workspace, store: Store, name: str) -> list[str]:
    """Re-create a removed agent's worktree from what its removal saved (a restore killed
    half-way is finished by running it again)."""
    interrupted = next((e for e in journal.unfinished(store, name)
                        if e.kind == journal.KIND_RESTORE), None)
    if any(agent.name == name for agent in workspace.agents) and interrupted is None:
        raise UsageError(f"agent {name!r} exists; nothing to restore")
    finish_removal(workspace, store, name)
    removal = next((e for e in journal.entries(store, name)
                    if e.kind == journal.KIND_REMOVE and e.phase == journal.DONE
                    and not e.undone), None)
    if removal is None:
        raise UsageError(f"no removal of {name!r} to restore (see `gitwarden checkpoints "
                         f"{shlex.quote(name)} --removed`)")
    saved = AgentState.from_json(removal.data["saved"])
    path = Path(removal.data["path"])
    if interrupted is not None and (path / ".git").exists():
        return _put_back_files(workspace, store, name, path, saved, removal.id, interrupted.id)
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"{path} exists and is not empty: move it away first")
    main = workspace.repo.main_worktree
    entry_id = interrupted.id if interrupted is not None else journal.begin(
        store, agent=name, kind=journal.KIND_RESTORE, was_paused=True,
        data={"saved": removal.data["saved"], "table": removal.data.get("table")})
    branch_exists = saved.branch is not None and run_git(
        ["rev-parse", "-q", "--verify", f"refs/heads/{saved.branch}"], main,
        check=False).returncode == 0
    if saved.branch and branch_exists:
        run_git(["worktree", "add", str(path), saved.branch], main)
    elif saved.branch and saved.head:
        run_git(["worktree", "add", "-b", saved.branch, str(path), saved.head], main)
    elif saved.head:
        run_git(["worktree", "add", "--detach", str(path), saved.head], main)
    else:
        raise GitwardenError(f"the removal of {name} saved no HEAD: nothing to check out")
    journal.update(store, entry_id, phase=journal.APPLYING)
    table = removal.data.get("table")
    config_path = workspace.repo.config_path
    if table and config_path.exists():
        existing = config_path.read_text(encoding="utf-8")
        config_path.write_text(existing.rstrip("\n") + "\n\n" + table, encoding="utf-8")
        workspace.config = load_config(config_path)
    return _put_back_files(workspace, store, name, path, saved, removal.id, entry_id)


def _put_back_files(workspace: Workspace, store: Store, name: str, path: Path,
                    saved: AgentState, removal_id: int, entry_id: int) -> list[str]:
    """Make the new worktree's index and files the saved ones (idempotent)."""
    repo = open_worktree_repo(path)
    head = str(repo.head.target)
    head_commit = repo.get(head)
    assert isinstance(head_commit, pygit2.Commit)
    changes = tree_changes(repo, head_commit.tree_id, pygit2.Oid(hex=saved.tree))
    move = Move(expected_head=head, new_head=head, branch=saved.branch,
                index_tree=saved.index_tree or head, tree=saved.tree,
                writes=tuple(c.path for c in changes if c.status != "D"),
                deletes=tuple(c.path for c in changes if c.status == "D"),
                restores=saved.stash)
    apply_move(workspace.repo.ensure_state_dir(), path, move)
    journal.update(store, entry_id, phase=journal.DONE)
    journal.mark_undone(store, removal_id)
    workspace.refresh()
    lines = [f"restored agent {name}: {path} on "
             + (f"branch {saved.branch}" if saved.branch else "a detached HEAD")]
    if saved.head and head != saved.head:
        lines.append(f"  its branch has moved since the removal ({saved.head[:10]} -> "
                     f"{head[:10]}): the saved files are uncommitted changes on top")
    if saved.stash:
        lines.append(f"  put back {len(saved.stash)} file(s) from the stash")
    return lines


def agent_table_text(workspace: Workspace, name: str) -> str | None:
    settings = workspace.config.agents.get(name)
    return render_agent_table(settings) if settings is not None else None
