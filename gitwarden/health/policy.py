"""What gitwarden does about a confirmed culprit: notify, pause, or revert (adapters).

A revert writes the agent's branch, index and files, so it is guarded: the agent is paused
first, a safety checkpoint and a backup ref keep the pre-revert state restorable (recorded as a
rollback: `gitwarden rollback AGENT --undo`), the branch moves by compare-and-swap, and only the
reverted paths are rewritten, each one only if it still holds the pre-revert content (refused
if any of them has uncommitted changes), leaving the agent's other work byte-identical.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pygit2

from gitwarden.checkpoints.table import mark_undone, record_rollback
from gitwarden.checkpoints.take import create_backup_ref
from gitwarden.coordination.pauses import auto_actions_allowed
from gitwarden.coordination.pausing import apply_pause
from gitwarden.errors import GitError, GitwardenError
from gitwarden.git.objects import MODE_GITLINK, tree_entry
from gitwarden.git.quarantine import keep, quarantined
from gitwarden.git.runner import run_git
from gitwarden.git.worktrees import operation_in_progress
from gitwarden.health import table as health_state
from gitwarden.health.revert_plan import RevertError, RevertPlan, create_revert_commit, plan_revert
from gitwarden.health.table import reverts_since, was_reverted
from gitwarden.store.events import EventKind, record_notice
from gitwarden.store.write_journal import own_writes

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace
    from gitwarden.store.db import Store

DAY = 86400.0
ACTOR = "health"


@dataclass(frozen=True)
class RevertDone:
    revert_commit: str
    previous_head: str
    paths: tuple[str, ...]
    backup_ref: str | None
    safety_checkpoint: str | None


def notify(store: Store, kind: EventKind, title: str, body: str, *, agent: str | None,
           severity: str = "error", data: Mapping[str, Any] | None = None) -> None:
    """A health finding, recorded and delivered as a desktop notification."""
    record_notice(store, kind, f"{title}: {body}", title=title, body=body, agent=agent,
                  severity=severity, data=data)


def kill_switch_engaged(store: Store) -> bool:
    """While the kill switch is engaged, automatic actions wait for the user. (The agent's
    own pause does not block its revert: health paused it first, on purpose.)"""

    return not auto_actions_allowed(store)


def pause(workspace: Workspace, store: Store, agent: str, reason: str) -> None:
    """Pause the agent (hooks deny, processes stop); the caller refreshes the context files."""
    apply_pause(workspace, store, agent, reason, ACTOR)


def revert_refusal(workspace: Workspace, store: Store, agent: Agent, culprit_time: float, *,
                   culprit: str | None = None, now: float | None = None) -> str | None:
    """Why an automatic revert must not happen now (None: it may)."""

    health = workspace.config.health
    moment = now if now is not None else time.time()
    if not agent.settings.auto_revert:
        return f"auto_revert is off for {agent.name}"
    if culprit is not None and was_reverted(store, agent.name, culprit):
        return (f"{culprit[:10]} was already reverted automatically once on {agent.name} "
                "(and the revert undone): gitwarden never reverts a commit twice")
    if agent.branch is None:
        return f"{agent.name} has a detached HEAD"
    if kill_switch_engaged(store):
        return "the kill switch is engaged"
    operation = operation_in_progress(agent.git_dir)
    if operation:
        return f"a {operation} is in progress in {agent.path}"
    done = reverts_since(store, agent.name, moment - DAY)
    if done >= health.max_reverts_per_day:
        return f"{done} automatic revert(s) in the last day (max_reverts_per_day = " \
               f"{health.max_reverts_per_day})"
    age = moment - culprit_time
    if age > health.revert_max_age:
        return f"the culprit is {age / 3600:.1f} h old (revert_max_age = " \
               f"{health.revert_max_age / 3600:.1f} h)"
    return None


def revert_culprit(workspace: Workspace, store: Store, agent: Agent, culprit: str, head: str,
                   *, check: str) -> RevertDone:
    """Add a revert of `culprit` on the agent's branch; RevertError/GitwardenError if unsafe.

    Order (each step recoverable by `gitwarden rollback AGENT --undo` if gitwarden is killed):
    safety checkpoint + backup ref; the rollback and revert records; the branch by
    compare-and-swap; then each reverted path, re-checked just before it is written. If the
    agent changed a reverted path meanwhile, the paths already written and the branch are put
    back and RevertAborted is raised.
    """


    if agent.branch is None:
        raise RevertError(f"{agent.name} has a detached HEAD")
    repo = pygit2.Repository(str(agent.path))
    with quarantined(repo) as scratch:  # a revert refused here leaves no object behind
        plan = plan_revert(scratch, head, [culprit], trailers=[
            ("Gitwarden-Agent", agent.name), ("Gitwarden-Check", check),
            ("Gitwarden-Action", "auto-revert")])
        if not plan.paths:
            raise RevertError(f"reverting {culprit[:10]} changes nothing on {head[:10]}")
        safety, backup = _protect(workspace, agent, head, culprit)
        dirty = _dirty_paths(agent, plan.paths)
        if dirty:
            raise RevertError(f"uncommitted changes in reverted path(s) {', '.join(dirty[:5])}")
        keep(scratch, repo, plan.tree)
    revert_commit = create_revert_commit(repo, plan)
    rollback_id = _record_as_rollback(store, agent, safety, backup, head, revert_commit)
    revert_id = health_state.record_revert(
        store, agent=agent.name, culprit=culprit, revert_commit=revert_commit,
        previous_head=head, backup_ref=backup, safety_checkpoint=safety, status="started")
    ref = f"refs/heads/{agent.branch}"
    try:
        run_git(["update-ref", "-m", f"gitwarden: auto-revert {culprit[:10]}", ref,
                 revert_commit, head], agent.path)
    except GitError as exc:
        _abandon(store, rollback_id, revert_id)
        raise RevertError(f"{agent.name} moved its branch meanwhile ({exc.message})") from exc
    # what the revert writes is gitwarden's, never the agent's (the daemon reads this)
    journal = own_writes(workspace.repo.ensure_state_dir(), agent.path, plan.paths)
    try:
        with journal:
            _rewrite_paths_checked(agent, repo, plan, head, revert_commit)
    except _PathChanged as changed:
        with own_writes(workspace.repo.ensure_state_dir(), agent.path, plan.paths):
            problems = _put_back(agent, head, revert_commit, changed.written, ref, backup)
        if problems:
            health_state.set_revert_status(store, revert_id, "aborted")
            raise RevertAborted(
                f"{changed.path} changed while it was being reverted; the revert was stopped "
                f"but could not be fully put back ({'; '.join(problems)}): restore the "
                f"pre-revert state with `{undo_command(agent.name)}`") from None
        _abandon(store, rollback_id, revert_id)
        raise RevertAborted(
            f"{changed.path} changed while it was being reverted; the revert was stopped and "
            f"the branch put back at {head[:10]} (backup {backup})") from None
    health_state.set_revert_status(store, revert_id, "done")
    return RevertDone(revert_commit=revert_commit, previous_head=head, paths=plan.paths,
                      backup_ref=backup, safety_checkpoint=safety)


class RevertAborted(RevertError):
    """The revert was started and stopped because the agent changed a reverted path."""


class _PathChanged(Exception):
    def __init__(self, path: str, written: list[str]) -> None:
        super().__init__(path)
        self.path = path
        self.written = written


def undo_command(agent_name: str) -> str:
    return f"gitwarden rollback {shlex.quote(agent_name)} --undo --yes"


def resume_command(agent_name: str) -> str:
    return f"gitwarden resume {shlex.quote(agent_name)}"


def _abandon(store: Store, rollback_id: int | None, revert_id: int) -> None:
    """Nothing of the revert is left: it is neither undoable nor counted as done."""

    health_state.set_revert_status(store, revert_id, "aborted")
    if rollback_id is not None:

        mark_undone(store, rollback_id)


def _record_as_rollback(store: Store, agent: Agent, safety: str, backup: str,
                        head: str, revert_commit: str) -> int:
    """Make `gitwarden rollback AGENT --undo` bring back the pre-revert state (recorded before
    the branch moves, so that a kill at any later point is undoable)."""

    return record_rollback(store, agent=agent.name, target=revert_commit, safety=safety,
                           backup_ref=backup, old_head=head, new_head=revert_commit,
                           branch=agent.branch, is_undo=False)


def _dirty_paths(agent: Agent, paths: tuple[str, ...]) -> list[str]:
    proc = run_git(["--literal-pathspecs", "status", "--porcelain=v1", "-z", "--no-renames",
                    "--untracked-files=all", "--ignored=no", "--", *paths], agent.path)
    entries = [part.decode("utf-8", "surrogateescape") for part in proc.stdout.split(b"\0")
               if part]
    return sorted({entry[3:] for entry in entries})


def _rewrite_paths_checked(agent: Agent, repo: Any, plan: RevertPlan, head: str,
                           revert_commit: str) -> None:
    """Write each reverted path (file and index entry) from the revert commit, right after
    checking that the file still holds the pre-revert HEAD's content."""
    head_tree = repo[head].tree
    removed = set(plan.removed)
    written: list[str] = []
    for path in plan.paths:
        expected = _entry(head_tree, path)
        if expected is not None and expected[1] == MODE_GITLINK:
            continue  # a submodule is a boundary: its pointer changes in the commit only
        if not _disk_matches(agent.path, path, expected[0] if expected else None):
            raise _PathChanged(path, written)
        if path in removed:
            _git_waiting_for_index(["--literal-pathspecs", "rm", "-q", "-f", "--ignore-unmatch",
                                    "--pathspec-from-file=-", "--pathspec-file-nul"],
                                   agent, _nul((path,)))
        else:
            _git_waiting_for_index(["--literal-pathspecs", "checkout", revert_commit,
                                    "--pathspec-from-file=-", "--pathspec-file-nul"],
                                   agent, _nul((path,)))
        written.append(path)


def _put_back(agent: Agent, head: str, revert_commit: str, written: list[str], ref: str,
              backup: str) -> list[str]:
    """Undo a stopped revert: the paths written go back to HEAD's content (unless the agent
    changed them too), the branch goes back by compare-and-swap. Returns what failed."""

    problems: list[str] = []
    revert_tree = pygit2.Repository(str(agent.path))[revert_commit].tree
    for path in written:
        expected = _entry(revert_tree, path)
        if not _disk_matches(agent.path, path, expected[0] if expected else None):
            problems.append(f"{path} changed again")
            continue
        _git_waiting_for_index(["--literal-pathspecs", "checkout", head,
                                "--pathspec-from-file=-", "--pathspec-file-nul"],
                               agent, _nul((path,)))
    try:
        backup_target = run_git(["rev-parse", "--verify", f"{backup}^{{commit}}"],
                                agent.path).stdout.decode().strip()
        run_git(["update-ref", "-m", "gitwarden: auto-revert stopped", ref, backup_target,
                 revert_commit], agent.path)
    except GitError as exc:
        problems.append(f"the branch was not put back ({exc.message})")
    return problems


def _entry(tree: Any, path: str) -> tuple[str, int] | None:
    entry = tree_entry(tree, path)
    return None if entry is None else (str(entry.id), int(entry.filemode))


def _disk_matches(worktree: Path, path: str, blob: str | None) -> bool:
    """Whether the file on disk holds `blob` (None: there is no file)."""

    full = worktree / path
    if full.is_symlink():
        return blob is not None and str(pygit2.hash(os.fsencode(os.readlink(full)))) == blob
    if not full.is_file():
        return blob is None
    if blob is None:
        return False
    if str(pygit2.hashfile(str(full))) == blob:
        return True
    # Clean filters or eol conversion can make the stored blob differ from the raw bytes.
    cooked = run_git(["--literal-pathspecs", "hash-object", "--path", path, "--", path],
                     worktree, check=False)
    return cooked.returncode == 0 and cooked.stdout.decode().strip() == blob


def _git_waiting_for_index(args: list[str], agent: Agent, input_bytes: bytes) -> None:
    """Run a git command that writes the index, waiting (never deleting) a busy index.lock."""
    delay = 0.05
    deadline = time.monotonic() + 10
    while True:
        try:
            run_git(args, agent.path, input_bytes=input_bytes)
            return
        except GitError as exc:
            if "index.lock" not in exc.message or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _nul(paths: tuple[str, ...]) -> bytes:
    return b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)


def _protect(workspace: Workspace, agent: Agent, head: str, culprit: str) -> tuple[str, str]:
    """Safety checkpoint + backup ref, before anything touches the agent: (safety, backup)."""

    try:
        backup = create_backup_ref(workspace, agent.name, f"pre-revert-{culprit[:10]}")
        # The backup's companion ref holds the safety checkpoint (as for a user rollback).
        safety = run_git(["rev-parse", "--verify", f"{backup}-worktree^{{commit}}"],
                         agent.path).stdout.decode().strip()
        backed_up = run_git(["rev-parse", "--verify", f"{backup}^{{commit}}"],
                            agent.path).stdout.decode().strip()
    except GitwardenError as exc:
        raise RevertError(f"cannot protect the pre-revert state: {exc.message}") from exc
    if backed_up != head:
        raise RevertError(f"{agent.name} moved its branch meanwhile (now at {backed_up[:10]})")
    return safety, backup
