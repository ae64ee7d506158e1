"""The stash: a content-addressed copy of bytes no checkpoint can hold.

Files left out of checkpoints (untracked files over the size cap, files ignored now but
present) are copied here before a rollback, an undo or a removal overwrites or deletes them.
Each file is stored once under `<state dir>/stash/objects/<sha256>` (written to a temporary
name, fsynced, then renamed: a stored object is always whole); which path held which object
is recorded by the caller (the transaction journal). Nothing here touches an agent's files
except `restore_file`, which writes one file the caller names.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gitwarden.errors import GitwardenError

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StashEntry:
    path: str  # relative to the worktree
    digest: str  # sha256 of the bytes (of the link target for a symlink)
    size: int
    kind: str  # "file", "exec" or "link"

    def as_json(self) -> dict[str, object]:
        return {"path": self.path, "digest": self.digest, "size": self.size, "kind": self.kind}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> StashEntry:
        return cls(path=str(data["path"]), digest=str(data["digest"]),
                   size=int(str(data["size"])), kind=str(data["kind"]))


class StashOverBudget(GitwardenError):
    """Saving the files would take the stash over its budget; nothing was changed."""


def stash_dir(state_dir: Path) -> Path:
    return state_dir / "stash" / "objects"


def stash_usage(state_dir: Path) -> int:
    """Bytes the stash holds now."""
    total = 0
    with contextlib.suppress(FileNotFoundError):
        for item in os.scandir(stash_dir(state_dir)):
            with contextlib.suppress(OSError):
                total += item.stat(follow_symlinks=False).st_size
    return total


def check_budget(state_dir: Path, worktree: Path, paths: Iterable[str], budget: int,
                 what: str) -> int:
    """Bytes the paths would add; raise StashOverBudget (listing the biggest) when over."""
    sizes = []
    for rel in paths:
        with contextlib.suppress(OSError):
            sizes.append((os.lstat(worktree / rel).st_size, rel))
    needed = sum(size for size, _ in sizes)
    used = stash_usage(state_dir)
    if used + needed > budget:
        biggest = sorted(sizes, reverse=True)[:8]
        listing = ", ".join(f"{rel} ({_human(size)})" for size, rel in biggest)
        raise StashOverBudget(
            f"refusing to {what}: saving the {len(sizes)} file(s) no checkpoint can hold "
            f"needs {_human(needed)} but the stash has {_human(max(budget - used, 0))} left "
            f"of its {_human(budget)} budget ([checkpoints] stash_budget): {listing}; move "
            "them away or raise the budget")
    return needed


def stash_file(state_dir: Path, worktree: Path, rel: str) -> StashEntry:
    """Copy one file (or symlink) of the worktree into the stash."""
    full = worktree / rel
    st = os.lstat(full)
    objects = stash_dir(state_dir)
    objects.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_ISLNK(st.st_mode):
        data = os.fsencode(os.readlink(full))
        digest = hashlib.sha256(data).hexdigest()
        _store_bytes(objects, digest, data)
        return StashEntry(rel, digest, len(data), "link")
    kind = "exec" if st.st_mode & stat.S_IXUSR else "file"
    temp = objects / f".incoming-{os.getpid()}-{time.monotonic_ns()}"
    hasher = hashlib.sha256()
    size = 0
    try:
        with open(full, "rb") as source, open(temp, "xb") as sink:
            while chunk := source.read(_CHUNK):
                hasher.update(chunk)
                sink.write(chunk)
                size += len(chunk)
            sink.flush()
            os.fsync(sink.fileno())
        digest = hasher.hexdigest()
        final = objects / digest
        if final.exists():
            temp.unlink()
        else:
            os.replace(temp, final)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise GitwardenError(f"cannot save {rel} into the stash {objects}: "
                             f"{exc.strerror or exc}") from exc
    return StashEntry(rel, digest, size, kind)


def _store_bytes(objects: Path, digest: str, data: bytes) -> None:
    final = objects / digest
    if final.exists():
        return
    temp = objects / f".incoming-{os.getpid()}-{time.monotonic_ns()}"
    with open(temp, "xb") as sink:
        sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(temp, final)


def matches(worktree: Path, entry: StashEntry) -> bool:
    """Whether the worktree holds exactly this entry's bytes at its path."""
    full = worktree / entry.path
    try:
        st = os.lstat(full)
    except OSError:
        return False
    if entry.kind == "link":
        return stat.S_ISLNK(st.st_mode) and hashlib.sha256(
            os.fsencode(os.readlink(full))).hexdigest() == entry.digest
    if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
        return False
    hasher = hashlib.sha256()
    with open(full, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest() == entry.digest


def restore_file(state_dir: Path, worktree: Path, entry: StashEntry) -> None:
    """Write the entry's bytes at its path (atomically: a temporary file renamed over it)."""
    if matches(worktree, entry):
        return
    source = stash_dir(state_dir) / entry.digest
    if not source.exists():
        raise GitwardenError(f"the stash lost {entry.path} (object {source} is gone)")
    full = worktree / entry.path
    full.parent.mkdir(parents=True, exist_ok=True)
    temp = full.parent / f".gitwarden-restore-{os.getpid()}-{full.name}"
    temp.unlink(missing_ok=True)
    if entry.kind == "link":
        os.symlink(os.fsdecode(source.read_bytes()), temp)
    else:
        shutil.copyfile(source, temp)
        os.chmod(temp, 0o755 if entry.kind == "exec" else 0o644)
    if full.is_dir() and not full.is_symlink():
        full.rmdir()
    os.replace(temp, full)


def prune_stash(state_dir: Path, keep: set[str], older_than: float) -> int:
    """Delete stash objects not in `keep` and last written before `older_than`; bytes freed."""
    freed = 0
    with contextlib.suppress(FileNotFoundError):
        for item in os.scandir(stash_dir(state_dir)):
            if item.name in keep:
                continue
            with contextlib.suppress(OSError):
                st = item.stat(follow_symlinks=False)
                if st.st_mtime < older_than:
                    os.unlink(item.path)
                    freed += st.st_size
    return freed


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
