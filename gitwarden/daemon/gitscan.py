"""The git reads the daemon makes about touched paths (all lock-free, via run_git)."""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from gitwarden.git.changes import parse_status_z
from gitwarden.git.runner import run_git, split_z

# Above this many touched paths one full `git status` is cheaper than pathspec matching.
MAX_PATHSPECS = 400
_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}


def dirty_paths(worktree: Path, paths: Sequence[str] | None) -> set[str]:
    """Tracked changes and untracked files among `paths` (all of them when None)."""
    args = ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]
    if paths is not None:
        if not paths:
            return set()
        args += ["--", *paths]  # `git status` has no --pathspec-from-file
    proc = run_git(args, worktree, env=_LITERAL)
    tracked, untracked = parse_status_z(proc.stdout)
    return set(tracked) | set(untracked)


def ignored_and_dirty(worktree: Path, files: Sequence[str],
                      paths: Sequence[str] | None) -> tuple[set[str], set[str]]:
    """(ignored_among(files), dirty_paths(paths)), the two git processes run side by side: the
    latency from a write to its overlap is the longer of the two, not their sum."""
    ignored: set[str] = set()
    failure: list[BaseException] = []

    def check_ignore() -> None:
        try:
            ignored.update(ignored_among(worktree, files))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=check_ignore, name="gitwarden-check-ignore")
    thread.start()
    try:
        present = dirty_paths(worktree, paths)
    finally:
        thread.join()
    if failure:
        raise failure[0]
    return ignored, present


def ignored_among(worktree: Path, paths: Iterable[str]) -> set[str]:
    """The paths git ignores (directories must end with '/')."""
    data = b"".join(os.fsencode(p) + b"\0" for p in paths)
    if not data:
        return set()
    proc = run_git(["check-ignore", "-z", "--stdin"], worktree, input_bytes=data, check=False)
    return set(split_z(proc.stdout))


def ignored_dirs(worktree: Path, under: str | None = None) -> set[str]:
    """Ignored directories (relative, without the trailing '/') in the worktree or `under`."""
    args = ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"]
    if under:
        args += ["--", under.rstrip("/") + "/"]
    proc = run_git(args, worktree, env=_LITERAL, check=False)
    return {p.rstrip("/") for p in split_z(proc.stdout) if p.endswith("/")}


def matches_any(path: str, globs: Sequence[str]) -> bool:
    """True when a relative path (or one of its parent directories) matches a glob."""
    if not globs:
        return False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(c, g) or fnmatch.fnmatchcase(parts[i], g)
               for i, c in enumerate(candidates) for g in globs)


def watchable_dirs(worktree: Path, start: str, ignored: set[str],
                   extra_ignore: Sequence[str]) -> list[str]:
    """Absolute paths of `start` (relative, "" = root) and its non-ignored subdirectories.

    Never descends into .git, ignored directories, or nested repositories/worktrees.
    """
    root = str(worktree)
    first = os.path.join(root, start) if start else root
    result: list[str] = []
    stack = [first]
    while stack:
        directory = stack.pop()
        result.append(directory)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False) or entry.name == ".git":
                    continue
            except OSError:
                continue
            rel = os.path.relpath(entry.path, root).replace(os.sep, "/")
            if rel in ignored or matches_any(rel, extra_ignore):
                continue
            if os.path.lexists(os.path.join(entry.path, ".git")):
                continue  # a nested repository or another worktree: a boundary
            stack.append(entry.path)
    return result


def stat_key(path: Path) -> tuple[object, ...]:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def repo_signature(common_dir: Path) -> tuple[object, ...]:
    """Repository-wide settings that change which files count as untracked."""
    return (stat_key(common_dir / "info" / "exclude"), stat_key(common_dir / "config"))
