"""Path patterns (git wildmatch globs or literal paths), repository-relative path
normalization, and agent scopes."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable

from gitwarden.coordination.wildmatch import has_glob, literal_prefix, wildmatch

# Files gitwarden itself writes inside a worktree; never subject to scope or locks.
GITWARDEN_DIR = ".gitwarden"


class OutsideRepository(ValueError):
    """A path that does not name something inside the worktree."""


def normalize_pattern(pattern: str) -> str:
    """A repository-relative pattern: forward slashes, no `./`, no trailing slash; refuses
    absolute paths and `..` that would leave the repository."""
    text = pattern.strip().replace(os.sep, "/")
    if not text:
        raise OutsideRepository("empty path")
    if text.startswith("/"):
        raise OutsideRepository(f"{pattern!r} is an absolute path, not a path in the repository")
    normal = posixpath.normpath(text)
    if normal == ".":
        return "**"
    if normal == ".." or normal.startswith("../"):
        raise OutsideRepository(f"{pattern!r} is outside the repository")
    if normal == ".git" or normal.startswith(".git/"):
        raise OutsideRepository(f"{pattern!r} is inside git's own directory")
    return normal


def relative_to_root(path: str, root: str, cwd: str | None = None) -> str:
    """`path` (absolute, or relative to `cwd`) as a path relative to the worktree `root`;
    OutsideRepository when it lies elsewhere. Symlinked roots are compared resolved."""
    base = cwd if cwd is not None else os.getcwd()
    full = os.path.normpath(os.path.join(base, path))
    root_norm = os.path.normpath(root)
    rel = inside(full, root_norm)
    if rel is None:
        real_root = os.path.realpath(root_norm)
        real_full = os.path.join(os.path.realpath(os.path.dirname(full)),
                                 os.path.basename(full))
        rel = inside(real_full, real_root)
    if rel is None:
        raise OutsideRepository(f"{path} is outside the worktree {root}")
    return normalize_pattern(rel.replace(os.sep, "/") or ".")


def resolved_relative_to_root(path: str, root: str, cwd: str | None = None) -> str:
    """Like relative_to_root, but for the file `path` really names once symlinks are followed
    (for a new file: its existing parent, resolved); OutsideRepository when that is elsewhere."""
    base = cwd if cwd is not None else os.getcwd()
    real = os.path.realpath(os.path.join(base, path))
    rel = inside(real, os.path.realpath(root))
    if rel is None:
        raise OutsideRepository(f"{path} leads to {real} (through a symbolic link), outside "
                                f"the worktree {root}")
    return normalize_pattern(rel.replace(os.sep, "/") or ".")


def inside(full: str, root: str) -> str | None:
    """`full` relative to `root` ("" for root itself), or None when it is not under `root`;
    both must be normalized the same way (e.g. both resolved)."""
    if full == root:
        return ""
    prefix = root.rstrip(os.sep) + os.sep
    return full[len(prefix):] if full.startswith(prefix) else None


def matches(pattern: str, path: str) -> bool:
    """Whether `pattern` covers the repository path `path`: a glob by wildmatch, a literal path
    as that file or, for a directory, everything under it."""
    if has_glob(pattern):
        if wildmatch(pattern, path):
            return True
        # "src/**" style patterns also cover a directory named exactly like their prefix
        return pattern.endswith("/**") and path == pattern[:-3]
    return path == pattern or path.startswith(pattern.rstrip("/") + "/")


def patterns_overlap(a: str, b: str) -> bool:
    """Whether some path could be covered by both patterns (conservative for two globs)."""
    if a == b:
        return True
    a_glob, b_glob = has_glob(a), has_glob(b)
    if not a_glob:
        return matches(b, a) or (not b_glob and matches(a, b)) or \
            (b_glob and _under(literal_prefix(b), a))
    if not b_glob:
        return patterns_overlap(b, a)
    pa, pb = literal_prefix(a), literal_prefix(b)
    return pa.startswith(pb) or pb.startswith(pa)


def _under(prefix: str, directory: str) -> bool:
    return prefix.startswith(directory.rstrip("/") + "/")


def in_scope(scope: Iterable[str], path: str) -> bool:
    """An empty scope allows everything; gitwarden's own files are always allowed."""
    patterns = list(scope)
    if not patterns or is_gitwarden_file(path):
        return True
    return any(matches(normalize_scope(p), path) for p in patterns)


def is_gitwarden_file(path: str) -> bool:
    """Whether the repository path is one of gitwarden's own files (never locked or scoped)."""
    return path == GITWARDEN_DIR or path.startswith(GITWARDEN_DIR + "/")


def normalize_scope(pattern: str) -> str:
    try:
        return normalize_pattern(pattern)
    except OutsideRepository:
        return pattern
