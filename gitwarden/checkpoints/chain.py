"""Checkpoint commits: one private chain per agent under refs/gitwarden/checkpoints/<agent>.

Each checkpoint commit has the previous checkpoint as first parent and the agent's HEAD at
that moment as second parent (so the agent's commits stay reachable), a message listing the
files changed since the previous checkpoint, and trailers naming agent, worktree, HEAD and
base. Ref updates are compare-and-swap (`git update-ref REF NEW OLD`, or the same through
libgit2's ref transaction where no git process should be started), made by one gitwarden
process at a time (`chain_lock`), so that no checkpoint commit loses the swap and stays
behind unreachable.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2

from gitwarden.errors import GitError
from gitwarden.git import lockfiles
from gitwarden.git.objects import ZERO_OID, gitwarden_signature
from gitwarden.git.repository import common_dir_of
from gitwarden.git.runner import run_git
from gitwarden.git.trees import KnownTrees, diff_trees

if TYPE_CHECKING:
    from gitwarden.checkpoints.chain_lock import ChainLock

CHECKPOINT_REF_PREFIX = "refs/gitwarden/checkpoints/"
BACKUP_REF_PREFIX = "refs/gitwarden/backups/"
MAX_LISTED_FILES = 50

TRAILER_AGENT = "Gitwarden-Agent"
TRAILER_WORKTREE = "Gitwarden-Worktree"
TRAILER_HEAD = "Gitwarden-Head"
TRAILER_BASE = "Gitwarden-Base"
TRAILER_CHANGED = "Gitwarden-Changed"
TRAILER_LEFT_OUT = "Gitwarden-Left-Out"
TRAILER_ORIGINAL = "Gitwarden-Original"
TRAILER_KIND = "Gitwarden-Kind"
_TRAILER_KEYS = (TRAILER_AGENT, TRAILER_WORKTREE, TRAILER_HEAD, TRAILER_BASE, TRAILER_CHANGED,
                 TRAILER_LEFT_OUT, TRAILER_ORIGINAL, TRAILER_KIND)


def checkpoint_ref(agent_name: str) -> str:
    return CHECKPOINT_REF_PREFIX + agent_name


@dataclass(frozen=True)
class FileChange:
    status: str  # A, M, D, T (type change)
    path: str


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint commit, read back from the chain."""

    commit: str
    tree: str
    time: float
    agent: str
    head: str | None
    base: str | None
    worktree: str | None
    changed: int
    summary: str
    kind: str
    previous: str | None
    original: str  # the id it had when first written (prune rewrites the chain)
    left_out: int = 0

    def as_json(self) -> dict[str, object]:
        return {"id": self.commit, "time": self.time, "agent": self.agent, "head": self.head,
                "base": self.base, "files_changed": self.changed, "message": self.summary,
                "kind": self.kind, "tree": self.tree, "original": self.original}


def tree_changes(repo: pygit2.Repository, old_tree: pygit2.Oid | None,
                 new_tree: pygit2.Oid, known: KnownTrees | None = None) -> list[FileChange]:
    """Files that differ between two trees (no rename detection: a rename is D + A).

    Identical subtrees (same id) are skipped without being read, so the cost follows the
    size of the change rather than the size of the repository; trees in `known` (those a
    snapshot just read and wrote) are not read at all.
    """
    return [FileChange(change.status, change.path)
            for change in diff_trees(repo, old_tree, new_tree, known)]


def build_message(*, agent: str, worktree: Path, head: str | None, base: str | None,
                  changes: Sequence[FileChange], message: str | None, left_out: Sequence[str],
                  kind: str = "auto", original: str | None = None) -> str:
    title = message.strip().splitlines()[0] if message and message.strip() else \
        f"{len(changes)} file{'s' if len(changes) != 1 else ''} changed"
    lines = [f"checkpoint {agent}: {title}", ""]
    if message and len(message.strip().splitlines()) > 1:
        lines += [*message.strip().splitlines()[1:], ""]
    if changes:
        lines += [f"{c.status} {c.path}" for c in changes[:MAX_LISTED_FILES]]
        if len(changes) > MAX_LISTED_FILES:
            lines.append(f"... and {len(changes) - MAX_LISTED_FILES} more")
        lines.append("")
    if left_out:
        lines.append("Left out (untracked, over the size cap or unreadable):")
        lines += [f"  {path}" for path in left_out[:MAX_LISTED_FILES]]
        lines.append("")
    lines.append(f"{TRAILER_AGENT}: {agent}")
    lines.append(f"{TRAILER_WORKTREE}: {worktree}")
    lines.append(f"{TRAILER_HEAD}: {head or 'none'}")
    lines.append(f"{TRAILER_BASE}: {base or 'none'}")
    lines.append(f"{TRAILER_CHANGED}: {len(changes)}")
    lines.append(f"{TRAILER_KIND}: {kind}")
    if left_out:
        lines.append(f"{TRAILER_LEFT_OUT}: {len(left_out)}")
    if original:
        lines.append(f"{TRAILER_ORIGINAL}: {original}")
    return "\n".join(lines) + "\n"


def parse_trailers(message: str) -> dict[str, str]:
    trailers: dict[str, str] = {}
    for line in reversed(message.rstrip("\n").splitlines()):
        key, sep, value = line.partition(": ")
        if not sep or key not in _TRAILER_KEYS:
            break
        trailers[key] = value.strip()
    return trailers


def info_from_commit(commit: pygit2.Commit) -> CheckpointInfo:
    trailers = parse_trailers(commit.message)
    head = trailers.get(TRAILER_HEAD)
    base = trailers.get(TRAILER_BASE)
    parents = commit.parent_ids
    return CheckpointInfo(
        commit=str(commit.id),
        tree=str(commit.tree_id),
        time=float(commit.commit_time),
        agent=trailers.get(TRAILER_AGENT, ""),
        head=None if head in (None, "none") else head,
        base=None if base in (None, "none") else base,
        worktree=trailers.get(TRAILER_WORKTREE),
        changed=int(trailers.get(TRAILER_CHANGED, "0") or 0),
        summary=commit.message.splitlines()[0] if commit.message else "",
        kind=trailers.get(TRAILER_KIND, "auto"),
        previous=str(parents[0]) if parents and _is_chain_parent(commit, trailers) else None,
        original=trailers.get(TRAILER_ORIGINAL, str(commit.id)),
        left_out=int(trailers.get(TRAILER_LEFT_OUT, "0") or 0),
    )


def _is_chain_parent(commit: pygit2.Commit, trailers: dict[str, str]) -> bool:
    """The first parent is the previous checkpoint unless the only parent is the agent HEAD."""
    head = trailers.get(TRAILER_HEAD)
    return not (len(commit.parent_ids) == 1 and str(commit.parent_ids[0]) == head)


def chain_tip(repo: pygit2.Repository, agent_name: str) -> pygit2.Commit | None:
    ref = repo.references.get(checkpoint_ref(agent_name))
    if ref is None:
        return None
    obj = repo.get(ref.target)
    return obj if isinstance(obj, pygit2.Commit) else None


def iter_chain(repo: pygit2.Repository, tip: pygit2.Commit | None) -> Iterator[CheckpointInfo]:
    """Checkpoints newest first, following the previous-checkpoint parent."""
    current = tip
    while current is not None:
        info = info_from_commit(current)
        yield info
        if info.previous is None:
            return
        parent = repo.get(info.previous)
        current = parent if isinstance(parent, pygit2.Commit) else None


def read_chain(repo: pygit2.Repository, agent_name: str,
               limit: int | None = None) -> list[CheckpointInfo]:
    result: list[CheckpointInfo] = []
    for info in iter_chain(repo, chain_tip(repo, agent_name)):
        result.append(info)
        if limit is not None and len(result) >= limit:
            break
    return result


def create_checkpoint_commit(repo: pygit2.Repository, *, tree: pygit2.Oid,
                             previous: str | None, head: str | None, message: str,
                             signature: pygit2.Signature | None = None,
                             committer: pygit2.Signature | None = None) -> str:
    parents: list[pygit2.Oid] = []
    if previous:
        parents.append(pygit2.Oid(hex=previous))
    if head and head != previous:
        parents.append(pygit2.Oid(hex=head))
    author = signature or gitwarden_signature()
    # File names that are not valid UTF-8 arrive surrogate-escaped; show their bytes as \xNN.
    printable = message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    oid = repo.create_commit(None, author, committer or author, printable, tree, parents)
    return str(oid)


class RefConflict(Exception):
    """A compare-and-swap ref update lost the race: the ref moved."""


def update_ref_cas(cwd: Path, ref: str, new: str, old: str | None, *,
                   message: str = "gitwarden") -> None:
    """Point `ref` at `new` only if it still points at `old` (None: must not exist)."""
    proc = run_git(["update-ref", "-m", message, ref, new, old or ZERO_OID], cwd, check=False)
    if proc.returncode == 0:
        return
    stderr = proc.stderr.decode("utf-8", "replace")
    if "but expected" in stderr or "already exists" in stderr or "unable to resolve" in stderr \
            or "is at" in stderr or "cannot lock ref" in stderr:
        raise RefConflict(stderr.strip().splitlines()[-1] if stderr.strip() else ref)
    raise GitError(f"git update-ref {ref} failed: {stderr.strip()}")


def advance_ref_cas(repo: pygit2.Repository, ref: str, new: str, old: str | None, *,
                    message: str = "gitwarden", held: ChainLock | None = None) -> None:
    """`update_ref_cas` without starting a git process (a checkpoint's hot path): libgit2
    takes the same `<ref>.lock` git takes, the old value is compared while it is held, and
    the reflog is written under git's rules. `held`: the chain lock, which records the ref
    lock file while it exists (for the next holder, should this process be killed)."""
    try:
        with repo.transaction() as transaction:
            transaction.lock_ref(ref)
            if held is not None:
                held.record_ref_lock(ref_lock_path(Path(common_dir_of(repo.path)), ref))
            current = repo.references.get(ref)
            value = str(current.target) if current is not None else None
            if value != old:
                raise RefConflict(f"{ref} is at {value or 'nothing'}, expected {old or 'none'}")
            transaction.set_target(ref, new, message=message)
    except pygit2.GitError as exc:
        if "lock" in str(exc).lower():
            raise RefConflict(f"cannot lock ref {ref}: {exc}") from exc
        raise GitError(f"updating {ref} failed: {exc}") from exc
    finally:
        if held is not None:
            held.clear()


def ref_lock_path(common_dir: Path, ref: str) -> Path:
    """The lock file git creates beside a loose ref while updating it."""
    return common_dir / f"{ref}.lock"


def lock_is_stale(path: Path, *, now: float | None = None) -> bool:
    """Whether a git lock file is older than a minute and no live process holds it open
    (git keeps its lock files open until it renames or deletes them)."""
    return any(lock.stale for lock in lockfiles.inspect([path], now))


def describe_lock(path: Path) -> str:
    """One sentence about a ref lock in the way, naming the file and the fix."""
    if lock_is_stale(path):
        return (f"the lock file {path} is stale (older than a minute, held by no process): "
                f"remove it (rm {shlex.quote(str(path))}) or run `gitwarden doctor --fix`")
    return (f"the lock file {path} exists: a git process is updating that ref, or one was "
            f"killed and left it (if it stays, remove it: rm {shlex.quote(str(path))})")


def delete_ref_cas(cwd: Path, ref: str, old: str) -> None:
    proc = run_git(["update-ref", "-d", ref, old], cwd, check=False)
    if proc.returncode != 0:
        raise RefConflict(proc.stderr.decode("utf-8", "replace").strip())


INDEX_REF_SUFFIX = "-index"


def index_commit(repo: pygit2.Repository, agent_name: str, head: str | None,
                  label: str) -> str | None:
    """A commit whose tree is the agent's index, read into memory: the index file is never
    written (no index.lock). None when the index cannot be a tree (unmerged entries)."""
    try:
        index = repo.index
        index.read(True)
        tree = index.write_tree()
    except (pygit2.GitError, OSError, ValueError):
        return None
    signature = gitwarden_signature()
    parents = [pygit2.Oid(hex=head)] if head else []
    oid = repo.create_commit(None, signature, signature,
                             f"index of {agent_name} before {label}\n", tree, parents)
    return str(oid)


def backup_index_tree(repo: pygit2.Repository, backup_ref: str) -> str | None:
    """The index tree recorded with a backup ref (None for backups taken without one)."""
    ref = repo.references.get(backup_ref + INDEX_REF_SUFFIX)
    if ref is None:
        return None
    commit = repo.get(ref.target)
    return str(commit.tree_id) if isinstance(commit, pygit2.Commit) else None
