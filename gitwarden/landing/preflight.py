"""Whether an agent may be landed, each refusal one line that says what to do; and, on request,
the agent's uncommitted work committed first (checkpoint-backed, undoable like a rollback)."""

from __future__ import annotations

import shlex

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.rollback import rollback_lock
from gitwarden.checkpoints.table import mark_completed, record_rollback
from gitwarden.checkpoints.take import create_backup_ref
from gitwarden.coordination import pauses
from gitwarden.errors import GitError, GitwardenError
from gitwarden.git.changes import worktree_changes
from gitwarden.git.commits import is_ancestor
from gitwarden.git.merges import commit_tree, update_branch_cas
from gitwarden.git.runner import run_git
from gitwarden.git.worktrees import operation_in_progress
from gitwarden.health.results import current_verdicts
from gitwarden.landing.sync import interrupted_change
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event


class LandRefused(GitwardenError):
    """An agent or a landing refused; the message is one line naming the fix."""


def refusal(workspace: Workspace, store: Store, agent: Agent, base_commit: str, *,
            allow_dirty: bool = False) -> str | None:
    """Why `agent` cannot be landed now, or None."""
    name = shlex.quote(agent.name)
    if not agent.exists:
        return f"agent {agent.name}: worktree missing: {agent.path}"
    operation = operation_in_progress(agent.git_dir)
    if operation:
        return (f"agent {agent.name} is in the middle of a {operation}: finish or abort it "
                f"first (git {operation} --abort)")
    if agent.branch is None or agent.head is None:
        return f"agent {agent.name} has no branch checked out (detached or unborn HEAD)"
    interrupted = interrupted_change(store, agent.name)
    if interrupted:
        return interrupted
    info = pauses.pause_info(store, agent.name)
    if info is not None:
        return (f"agent {agent.name} is paused ({info.reason}): resume it first "
                f"(gitwarden resume {name})")
    broken = [v for v in current_verdicts(store, agent.name, workspace)
              if v.verdict == "broken" and v.commit == agent.head]
    if broken:
        return (f"agent {agent.name} is broken ({broken[0].check} fails at "
                f"{agent.head[:10]}): fix it first (gitwarden health {name})")
    state = worktree_changes(agent.path, agent.head, base_commit)
    if state.error:
        return f"cannot read the worktree of {agent.name}: {state.error}"
    dirty = (*state.uncommitted, *state.untracked)
    if is_ancestor(workspace.repo.common_dir, agent.head, base_commit) and \
            not (allow_dirty and dirty):
        return f"agent {agent.name} has nothing to land: its branch is already in the base"
    if dirty and not allow_dirty:
        return (f"agent {agent.name} has {len(dirty)} uncommitted file(s) "
                f"({', '.join(dirty[:3])}{' ...' if len(dirty) > 3 else ''}): commit them, "
                "or land with --include-uncommitted")
    return None


def commit_uncommitted(workspace: Workspace, store: Store, agent: Agent) -> str:
    """Commit everything the agent has not committed (tracked, staged, untracked, not ignored)
    on its branch; its files are left as they are. A safety checkpoint and a backup ref come
    first and the change is logged like a rollback, so `rollback --undo` takes it back.
    Returns the new head (the old one when there was nothing to commit)."""
    assert agent.branch is not None and agent.head is not None
    with rollback_lock(workspace, agent) as lock_fd:
        state = worktree_changes(agent.path, agent.head, agent.head)
        if not (*state.uncommitted, *state.untracked):
            return agent.head
        backup = create_backup_ref(workspace, agent, "land-snapshot")
        safety = run_git(["rev-parse", f"{backup}-worktree"],
                         workspace.repo.common_dir).stdout.decode().strip()
        tree = run_git(["rev-parse", f"{safety}^{{tree}}"],
                       workspace.repo.common_dir).stdout.decode().strip()
        new_head = commit_tree(workspace.repo.common_dir, tree, [agent.head],
                               f"Uncommitted work of agent {agent.name}, committed for landing"
                               "\n\nTaken by gitwarden land --include-uncommitted.\n")
        record_id = record_rollback(store, agent=agent.name, target=new_head, safety=safety,
                                    backup_ref=backup, old_head=agent.head, new_head=new_head,
                                    branch=agent.branch, is_undo=False, completed=False)
        if not update_branch_cas(agent.path, agent.branch, new_head, agent.head,
                                 "gitwarden land: commit uncommitted work"):
            raise LandRefused(f"agent {agent.name} committed meanwhile; nothing was changed, "
                              "land again")
        try:
            # The index only: the files already hold exactly this tree.
            run_git(["read-tree", new_head], agent.path, pass_fds=(lock_fd,))
        except GitError as exc:
            update_branch_cas(agent.path, agent.branch, agent.head, new_head,
                              "gitwarden land: put back")
            raise LandRefused(f"cannot commit the work of {agent.name}: {exc.message}") from exc
        run_git(["update-index", "-q", "--refresh"], agent.path, check=False,
                pass_fds=(lock_fd,))
        mark_completed(store, record_id)
    record_event(store, EventKind.LAND_SNAPSHOT,
                 f"committed the uncommitted work of {agent.name} for landing as "
                 f"{new_head[:10]} (backup {backup})", agent=agent.name,
                 data={"commit": new_head, "backup_ref": backup, "safety": safety})
    return new_head
