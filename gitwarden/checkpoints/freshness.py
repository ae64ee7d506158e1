"""When a changed-path set is enough: an incremental checkpoint equals a full one.

An incremental snapshot re-reads only the paths it is given on top of the previous checkpoint's
tree. That equals what `git add -A` would see only if nothing else that decides the snapshot
changed since that tree was taken: the agent's index (tracked files that are ignored or over
the size cap, modes when core.filemode is off), the ignore and attribute files outside the
worktree (info/exclude, info/attributes, the global ones), and git's config. Those inputs are
summed up in a signature of their stat data (one stat each, no reads).

Each checkpoint that was taken from a whole scan, or from a trusted base, records
`<state dir>/checkpoints/<agent>`: the checkpoint's commit id and the signature of its inputs.
The next incremental checkpoint is trusted only when that record names the current tip and
the signature is unchanged; otherwise the caller takes a full snapshot. A record is written
only when no input changed while the snapshot was being taken (inputs stamped after the scan
started, within the file system's clock granularity, do not count as seen). Paths named
`.gitignore` or `.gitattributes` in the set change how other paths read: a full snapshot too.

Nothing here reads or writes the agent's files, index or HEAD.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import pygit2

from gitwarden.git.index_digest import IndexDigests
from gitwarden.git.repository import common_dir_of

# Files whose change alters how other paths are snapshotted.
RULE_FILES = frozenset({".gitignore", ".gitattributes"})
# File system timestamps come from a coarse clock: an input written just after a scan started
# may carry a time a little before it.
CLOCK_SLACK = 0.05

Signature = tuple[str, float]  # (hex digest, newest mtime among the inputs)

# The index digests of this process, by index path (bounded in IndexDigests).
_INDEXES = IndexDigests()


def input_paths(repo: pygit2.Repository) -> list[str]:
    """Every file besides the worktree's own that decides what a snapshot holds."""
    git_dir = repo.path
    common = common_dir_of(git_dir)
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    paths = [os.path.join(git_dir, "index"), os.path.join(git_dir, "config.worktree"),
             os.path.join(common, "config"), os.path.join(common, "info", "exclude"),
             os.path.join(common, "info", "attributes"), os.path.join(home, ".gitconfig"),
             os.path.join(xdg, "git", "config"), os.path.join(xdg, "git", "ignore"),
             os.path.join(xdg, "git", "attributes"), "/etc/gitconfig", "/etc/gitattributes"]
    for variable in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM"):
        if os.environ.get(variable):
            paths.append(os.environ[variable])
    config = repo.config
    for key in ("core.excludesFile", "core.attributesFile"):
        try:
            value = config[key]  # pygit2's Config has no get()
        except (pygit2.GitError, KeyError, ValueError):
            value = None
        if value:
            paths.append(os.path.expanduser(str(value)))
    return paths


def signature(repo: pygit2.Repository) -> Signature:
    """A digest of the inputs' stat data (size, mtime, inode; missing files included), the
    index's by its entries."""
    digest = hashlib.sha1(usedforsecurity=False)
    newest = 0.0
    paths = input_paths(repo)
    # The index by its entries: a rewrite that refreshed stat data only keeps the digest. Its
    # times still count as the newest input: a scan that started before the rewrite may have
    # read the entries from before it.
    entries = _INDEXES.signature(Path(paths[0]))
    if isinstance(entries, bytes):
        digest.update(b"index\0" + entries + b"\n")
    for number, path in enumerate(paths):
        try:
            st = os.stat(path)
        except OSError:
            digest.update(f"{path}\0-\n".encode("utf-8", "surrogateescape"))
            continue
        newest = max(newest, st.st_mtime, st.st_ctime)
        if number == 0 and isinstance(entries, bytes):
            continue
        digest.update(f"{path}\0{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}\n"
                      .encode("utf-8", "surrogateescape"))
    return digest.hexdigest(), newest


def _record_path(state_dir: Path, agent_name: str) -> Path:
    return state_dir / "checkpoints" / agent_name


def trusted_base(state_dir: Path, agent_name: str, tip: str, current: Signature) -> bool:
    """Whether the checkpoint `tip` was recorded with the inputs `current` still has."""
    try:
        text = _record_path(state_dir, agent_name).read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return False
    commit, _, digest = text.strip().partition(" ")
    return commit == tip and digest == current[0]


def rule_change(paths: Iterable[str]) -> str | None:
    """The first path of the set that changes how other paths are read, if any."""
    for path in paths:
        if os.path.basename(os.fspath(path).rstrip("/")) in RULE_FILES:
            return os.fspath(path)
    return None


def record_base(state_dir: Path, agent_name: str, commit: str, before: Signature,
                after: Signature, started: float) -> bool:
    """Record `commit` as a trusted base when its inputs held still during the snapshot
    (`before` was taken before reading anything, `after` once the tree was written)."""
    path = _record_path(state_dir, agent_name)
    # One temporary file per writer (the daemon's threads and CLIs may record at once).
    temp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        if before[0] != after[0] or before[1] >= started - CLOCK_SLACK:
            path.unlink(missing_ok=True)  # the tip no longer matches an older record anyway
            return False
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp.write_text(f"{commit} {before[0]}\n", encoding="utf-8")
        # Renamed onto a free name: ext4 flushes a file renamed over another (auto_da_alloc),
        # which cost a millisecond per checkpoint. Meanwhile a reader finds no record and
        # takes a full snapshot; a writer that renames second replaces the first, as before.
        path.unlink(missing_ok=True)
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)
        return False  # no record: the next checkpoint scans in full
    return True
