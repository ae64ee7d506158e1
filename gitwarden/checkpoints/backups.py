"""Retention of what rollbacks and removals saved: backup refs and the stash.

Backup refs (refs/gitwarden/backups/<agent>/<time>-<label> with their `-worktree` and `-index`
companions) are kept per agent: the newest `keep_backups`, none older than `backup_max_age`,
and always those an undo, an unfinished transaction or a removal still needs. Stash objects
are kept while a journal entry younger than `stash_max_age` (or still undoable) names them.
Deletions are compare-and-swap (`update-ref --stdin` with the old values).
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import journal
from gitwarden.checkpoints.chain import BACKUP_REF_PREFIX, CHECKPOINT_REF_PREFIX
from gitwarden.checkpoints.rollback import prune
from gitwarden.checkpoints.stash import prune_stash
from gitwarden.checkpoints.table import rollbacks
from gitwarden.git.runner import run_git
from gitwarden.store.db import Store

_STAMP = re.compile(r"(\d{8}T\d{6})")
_COMPANIONS = ("-worktree", "-index")
# A branch deleted by `agent remove --delete-branch` lives on only here: never pruned.
_KEPT_LABELS = ("-deleted-branch",)
# Stash objects no entry names yet may belong to a transaction being saved right now.
_IN_FLIGHT_SECONDS = 3600.0


@dataclass
class BackupGroup:
    base: str  # the ref without companion suffix
    time: float
    refs: dict[str, str] = field(default_factory=dict)  # ref -> object id


def names_with_checkpoints(workspace: Workspace) -> list[str]:
    """Every agent name that has a checkpoint chain, removed agents included."""
    proc = run_git(["for-each-ref", "--format=%(refname)", CHECKPOINT_REF_PREFIX],
                   workspace.repo.main_worktree)
    return sorted(line[len(CHECKPOINT_REF_PREFIX):]
                  for line in proc.stdout.decode().splitlines() if line)


def removed_agents(workspace: Workspace) -> list[str]:
    """Names with a checkpoint chain but no worktree agent."""
    live = {agent.name for agent in workspace.agents}
    return [name for name in names_with_checkpoints(workspace) if name not in live]


def backup_groups(cwd: Path, agent: str) -> list[BackupGroup]:
    """The agent's backups, newest first."""
    proc = run_git(["for-each-ref", "--format=%(objectname) %(refname) %(creatordate:unix)",
                    f"{BACKUP_REF_PREFIX}{agent}/"], cwd)
    groups: dict[str, BackupGroup] = {}
    for line in proc.stdout.decode().splitlines():
        oid, ref, created = line.split(" ", 2)
        base = ref
        for suffix in _COMPANIONS:
            if ref.endswith(suffix):
                base = ref[:-len(suffix)]
        stamp = _STAMP.search(base[len(BACKUP_REF_PREFIX):])
        when = calendar.timegm(time.strptime(stamp.group(1), "%Y%m%dT%H%M%S")) if stamp \
            else float(created or 0)
        group = groups.setdefault(base, BackupGroup(base, float(when)))
        group.refs[ref] = oid
    return sorted(groups.values(), key=lambda g: (g.time, g.base), reverse=True)


def prune_backups(workspace: Workspace, store: Store, agent: str, *, keep: int | None = None,
                  max_age: float | None = None, now: float | None = None,
                  dry_run: bool = False) -> tuple[int, int]:
    """(kept, dropped) backups of the agent."""
    settings = workspace.config.checkpoints
    keep = settings.keep_backups if keep is None else keep
    max_age = settings.backup_max_age if max_age is None else max_age
    current = time.time() if now is None else now
    cwd = workspace.repo.main_worktree
    needed = journal.protected_backups(store, agent, current - max_age) | {
        r.backup_ref for r in rollbacks(store, agent) if r.backup_ref and not r.undone}
    kept = 0
    dropping: list[BackupGroup] = []
    for position, group in enumerate(backup_groups(cwd, agent)):
        if (group.base in needed or group.base.endswith(_KEPT_LABELS)
                or (position < keep and current - group.time <= max_age)):
            kept += 1
        else:
            dropping.append(group)
    if dropping and not dry_run:
        script = "".join(f"delete {ref} {oid}\n" for group in dropping
                         for ref, oid in group.refs.items())
        run_git(["update-ref", "--stdin"], cwd, input_bytes=script.encode())
    return kept, len(dropping)


def prune_stash_objects(workspace: Workspace, store: Store, *, max_age: float | None = None,
                        now: float | None = None) -> int:
    """Delete stash objects no recent or undoable journal entry names; bytes freed."""
    settings = workspace.config.checkpoints
    max_age = settings.stash_max_age if max_age is None else max_age
    current = time.time() if now is None else now
    keep = journal.referenced_digests(store, current - max_age)
    return prune_stash(workspace.repo.ensure_state_dir(), keep,
                       older_than=current - _IN_FLIGHT_SECONDS)


def prune_saved(workspace: Workspace, store: Store, *,
                now: float | None = None) -> tuple[int, int]:
    """The daemon's share of `gitwarden prune` beyond live chains: removed agents' chains,
    every agent's backups, the stash. Returns (backup groups dropped, stash bytes freed)."""
    dropped = 0
    removed = set(removed_agents(workspace))
    for name in names_with_checkpoints(workspace):
        if name in removed:
            prune(workspace, store, name, now=now)
        dropped += prune_backups(workspace, store, name, now=now)[1]
    return dropped, prune_stash_objects(workspace, store, now=now)
