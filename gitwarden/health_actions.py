"""What gitwarden does about a confirmed culprit: notify, pause, or revert (adapters).

A revert writes the agent's branch, index and files, so it is guarded: the agent is paused
first, a safety checkpoint and a backup ref keep the pre-revert state restorable, the branch
moves by compare-and-swap, and only the reverted paths are rewritten (refused if any of them
has uncommitted changes), leaving the agent's other work byte-identical.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitwarden.core.revert import RevertError, create_revert_commit, plan_revert
from gitwarden.errors import GitError, GitwardenError
from gitwarden.gitcli import run_git
from gitwarden.state.events import record_event
from gitwarden.worktrees import operation_in_progress

if TYPE_CHECKING:
    from gitwarden.core.agents import Agent
    from gitwarden.state.db import Store
    from gitwarden.workspace import Workspace

DAY = 86400.0
ACTOR = "health"


@dataclass(frozen=True)
class RevertDone:
    revert_commit: str
    previous_head: str
    paths: tuple[str, ...]
    backup_ref: str | None
    safety_checkpoint: str | None


def notify(store: Store, kind: str, title: str, body: str, *, agent: str | None,
           severity: str = "error", data: Mapping[str, Any] | None = None) -> None:
    """An event the daemon also delivers as a desktop notification."""
    record_event(store, kind, f"{title}: {body}", agent=agent, severity=severity,
                 data={**dict(data or {}), "notify": True, "title": title, "body": body})


def kill_switch_engaged(store: Store) -> bool:
    """While the kill switch is engaged, automatic actions wait for the user. (The agent's
    own pause does not block its revert: health paused it first, on purpose.)"""
    try:
        from gitwarden.state import pauses
    except ImportError:
        return False
    return pauses.kill_switch(store) is not None


def pause(workspace: Workspace, store: Store, agent: str, reason: str) -> None:
    """Pause through coordination (deny hooks, SIGSTOP processes) when it is available."""
    try:
        from gitwarden.coordination import apply_pause
    except ImportError:
        pass
    else:
        apply_pause(workspace, store, agent, reason, ACTOR)
        return
    try:
        from gitwarden.state.pauses import pause_agent
    except ImportError:
        record_event(store, "pause", f"{agent} should be paused: {reason}", agent=agent,
                     severity="warning", data={"by": ACTOR, "reason": reason})
        return
    pause_agent(store, agent, reason, ACTOR)
    record_event(store, "pause", f"{agent} paused: {reason}", agent=agent, severity="warning",
                 data={"by": ACTOR, "reason": reason})


def revert_refusal(workspace: Workspace, store: Store, agent: Agent, culprit_time: float, *,
                   now: float | None = None) -> str | None:
    """Why an automatic revert must not happen now (None: it may)."""
    health = workspace.config.health
    moment = now if now is not None else time.time()
    if not agent.settings.auto_revert:
        return f"auto_revert is off for {agent.name}"
    if agent.branch is None:
        return f"{agent.name} has a detached HEAD"
    if kill_switch_engaged(store):
        return "the kill switch is engaged"
    operation = operation_in_progress(agent.git_dir)
    if operation:
        return f"a {operation} is in progress in {agent.path}"
    from gitwarden.state.health import reverts_since

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
    """Add a revert of `culprit` on the agent's branch; RevertError/GitwardenError if unsafe."""
    import pygit2

    if agent.branch is None:
        raise RevertError(f"{agent.name} has a detached HEAD")
    repo = pygit2.Repository(str(agent.path))
    plan = plan_revert(repo, head, [culprit], trailers=[
        ("Gitwarden-Agent", agent.name), ("Gitwarden-Check", check),
        ("Gitwarden-Action", "auto-revert")])
    if not plan.paths:
        raise RevertError(f"reverting {culprit[:10]} changes nothing on {head[:10]}")
    dirty = _dirty_paths(agent, plan.paths)
    if dirty:
        raise RevertError(f"uncommitted changes in reverted path(s) {', '.join(dirty[:5])}")
    safety, backup = _protect(workspace, store, agent, head, culprit)
    revert_commit = create_revert_commit(repo, plan)
    ref = f"refs/heads/{agent.branch}"
    try:
        run_git(["update-ref", "-m", f"gitwarden: auto-revert {culprit[:10]}", ref,
                 revert_commit, head], agent.path)
    except GitError as exc:
        raise RevertError(f"{agent.name} moved its branch meanwhile ({exc.message})") from exc
    _rewrite_paths(agent, revert_commit, plan.paths, plan.removed)
    _record_as_rollback(store, agent, safety, backup, head, revert_commit)
    return RevertDone(revert_commit=revert_commit, previous_head=head, paths=plan.paths,
                      backup_ref=backup, safety_checkpoint=safety)


def _record_as_rollback(store: Store, agent: Agent, safety: str | None, backup: str | None,
                        head: str, revert_commit: str) -> None:
    """Make `gitwarden rollback AGENT --undo` bring back the pre-revert state."""
    if safety is None:
        return
    try:
        from gitwarden.state.checkpoints import record_rollback
    except ImportError:
        return
    record_rollback(store, agent=agent.name, target=revert_commit, safety=safety,
                    backup_ref=backup, old_head=head, new_head=revert_commit,
                    branch=agent.branch, is_undo=False)


def _dirty_paths(agent: Agent, paths: tuple[str, ...]) -> list[str]:
    proc = run_git(["--literal-pathspecs", "status", "--porcelain=v1", "-z", "--no-renames",
                    "--untracked-files=all", "--ignored=no", "--", *paths], agent.path)
    entries = [part.decode("utf-8", "surrogateescape") for part in proc.stdout.split(b"\0")
               if part]
    return sorted({entry[3:] for entry in entries})


def _rewrite_paths(agent: Agent, commit: str, paths: tuple[str, ...],
                   removed: tuple[str, ...]) -> None:
    kept = tuple(p for p in paths if p not in set(removed))
    if kept:
        _git_waiting_for_index(["--literal-pathspecs", "checkout", commit,
                                "--pathspec-from-file=-", "--pathspec-file-nul"],
                               agent, _nul(kept))
    if removed:
        _git_waiting_for_index(["--literal-pathspecs", "rm", "-q", "-f", "--ignore-unmatch",
                                "--pathspec-from-file=-", "--pathspec-file-nul"],
                               agent, _nul(removed))


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


def _protect(workspace: Workspace, store: Store, agent: Agent, head: str,
             culprit: str) -> tuple[str | None, str | None]:
    """Safety checkpoint + backup ref (A's checkpointing; our own backup ref until it lands)."""
    label = f"pre-revert-{culprit[:10]}"
    try:
        from gitwarden.checkpointing import create_backup_ref, safety_checkpoint
    except ImportError:
        return None, _fallback_backup_ref(agent, head, label)
    try:
        safety = safety_checkpoint(workspace, agent.name, f"before auto-revert of {culprit[:10]}")
        backup = create_backup_ref(workspace, agent.name, label)
    except GitwardenError as exc:
        raise RevertError(f"cannot protect the pre-revert state: {exc.message}") from exc
    return safety, backup


def _fallback_backup_ref(agent: Agent, head: str, label: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    ref = f"refs/gitwarden/backups/{agent.name}/{stamp}-{label}"
    run_git(["update-ref", "-m", "gitwarden: backup before auto-revert", ref, head, "0" * 40],
            agent.path)
    return ref
