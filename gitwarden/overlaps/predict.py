"""Predicting whether two agents' versions of a file will merge: an in-memory three-way merge.

Each side is what the agent has right now, uncommitted work included: the file in its
worktree (or in its HEAD tree when the worktree is gone). The ancestor is the file at the
merge-base of the two agents' HEADs. Nothing is written anywhere in the repository: no index,
HEAD, worktree, nor object (blob contents are merged in a private temporary directory by
git/merge_file.py), and results are cached by the object ids involved, so a repeated question
costs three hashes: prediction is incremental, a pair's merge on a path is recomputed only when
one of its blobs changed. Merge bases (per pair of HEADs) and the files in commits (per commit
and path) never change once known and are cached too. Every cache is bounded: emptied when
full, so the daemon's memory stays flat.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import pygit2

from gitwarden.git.merge_file import merge_file_contents
from gitwarden.git.objects import MODE_BLOB, MODE_EXEC, MODE_LINK, tree_entry

CONFLICT = "conflict"
CLEAN_MERGE = "clean-merge"

_CACHE_LIMIT = 1024  # pair results; cleared when full (the daemon's memory stays flat)
_MERGE_BASE_LIMIT = 1024  # pairs of HEADs
_IN_COMMIT_LIMIT = 1024  # (commit, path) entries
REOPEN_INTERVAL = 60.0


@dataclass(frozen=True)
class Side:
    """One agent's version of the repository: its worktree and its HEAD commit."""

    agent: str
    worktree: Path
    head: str | None


@dataclass(frozen=True)
class ConflictHunk:
    """A conflicting region, as 1-based inclusive line ranges in each agent's file."""

    agents: tuple[str, str]
    ours_lines: tuple[int, int]
    theirs_lines: tuple[int, int]

    def as_json(self) -> dict[str, Any]:
        return {"agents": list(self.agents),
                self.agents[0]: list(self.ours_lines), self.agents[1]: list(self.theirs_lines)}


@dataclass(frozen=True)
class Prediction:
    classification: str
    hunks: tuple[ConflictHunk, ...] = ()
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"classification": self.classification, "reason": self.reason,
                "hunks": [h.as_json() for h in self.hunks]}


@dataclass(frozen=True)
class _Version:
    oid: str | None  # None: the file does not exist on this side
    data: bytes | None
    mode: int


@dataclass(frozen=True)
class _PairResult:
    clean: bool
    ranges: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = ()
    reason: str | None = None


class MergePredictor:
    """Three-way merge predictions for one repository; use one per thread."""

    def __init__(self, repo_dir: Path) -> None:
        self._repo_dir = repo_dir
        self._repository = pygit2.Repository(str(repo_dir))
        self._opened_at = time.monotonic()
        self._cache: dict[tuple[str | None, str | None, str | None], _PairResult] = {}
        self._merge_bases: dict[tuple[str, str], str | None] = {}
        self._in_commits: dict[tuple[str, str], _Version] = {}

    @property
    def repo(self) -> pygit2.Repository:
        """The repository, reopened every few minutes: libgit2 keeps every pack it ever read
        mapped while a Repository lives, packs a repack has since deleted included, so one
        held for months would map thousands of deleted files."""
        self._reopen_if_due()
        return self._repository

    def _reopen_if_due(self) -> None:
        """Called by each prediction too: one answered from the caches alone must not keep
        the old packs mapped either."""
        if time.monotonic() - self._opened_at >= REOPEN_INTERVAL:
            self._repository.free()
            self._repository = pygit2.Repository(str(self._repo_dir))
            self._opened_at = time.monotonic()
            gc.collect()  # a pygit2 Repository sits in reference cycles: unmap its packs now

    @property
    def cache_size(self) -> int:
        return len(self._cache) + len(self._merge_bases) + len(self._in_commits)

    def predict(self, path: str, sides: Sequence[Side]) -> Prediction:
        """Classify an overlap on `path` between two or more agents."""
        self._reopen_if_due()
        versions = {side.agent: self._current(side, path) for side in sides}
        hunks: list[ConflictHunk] = []
        reasons: list[str] = []
        for left, right in combinations(sides, 2):
            ancestor = self._ancestor(left.head, right.head, path)
            result = self._merge_pair(path, ancestor, versions[left.agent],
                                      versions[right.agent])
            if not result.clean:
                if result.reason:
                    reasons.append(f"{left.agent}/{right.agent}: {result.reason}")
                hunks.extend(ConflictHunk((left.agent, right.agent), ours, theirs)
                             for ours, theirs in result.ranges)
                if not result.ranges and not result.reason:
                    reasons.append(f"{left.agent}/{right.agent}: conflicting changes")
        if hunks or reasons:
            return Prediction(CONFLICT, tuple(hunks), "; ".join(reasons) or None)
        return Prediction(CLEAN_MERGE)

    def predict_against(self, path: str, side: Side, label: str, commit: str,
                        ancestor: str | None) -> Prediction:
        """Whether the agent's current `path` merges with the file at `commit` (the base,
        called `label` in the hunks), from their common `ancestor` commit."""
        self._reopen_if_due()
        result = self._merge_pair(path, self._in_commit(ancestor, path),
                                  self._in_commit(commit, path), self._current(side, path))
        if result.clean:
            return Prediction(CLEAN_MERGE)
        hunks = tuple(ConflictHunk((label, side.agent), ours, theirs)
                      for ours, theirs in result.ranges)
        return Prediction(CONFLICT, hunks, result.reason or (None if hunks else
                                                              "conflicting changes"))

    def _merge_pair(self, path: str, ancestor: _Version, ours: _Version,
                    theirs: _Version) -> _PairResult:
        if ours.oid == theirs.oid or ours.oid == ancestor.oid or theirs.oid == ancestor.oid:
            return _PairResult(clean=True)
        if ours.oid is None or theirs.oid is None:
            return _PairResult(clean=False, reason="deleted on one side, modified on the other")
        key = (ancestor.oid, ours.oid, theirs.oid)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._merge_blobs(path, ancestor, ours, theirs)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = result
        return result

    def _merge_blobs(self, path: str, ancestor: _Version, ours: _Version,
                     theirs: _Version) -> _PairResult:
        if ours.mode == MODE_LINK or theirs.mode == MODE_LINK:
            return _PairResult(clean=False, reason="symbolic link changed on both sides")
        merged = merge_file_contents(self._data(ancestor), self._data(ours) or b"",
                                     self._data(theirs) or b"",
                                     labels=(f"ours/{path}", f"base/{path}", f"theirs/{path}"))
        if merged.clean:
            return _PairResult(clean=True)
        ranges = conflict_ranges(merged.text or "")
        if not ranges:
            return _PairResult(clean=False, reason="binary or unmergeable content")
        return _PairResult(clean=False, ranges=tuple(ranges))

    def _data(self, version: _Version) -> bytes | None:
        """The version's bytes: read from the worktree, or from the object database (only
        read, never written)."""
        if version.oid is None:
            return None
        if version.data is not None:
            return version.data
        try:
            blob = self.repo[version.oid]
        except (KeyError, ValueError):
            return None
        return bytes(blob.data) if isinstance(blob, pygit2.Blob) else None

    def _current(self, side: Side, path: str) -> _Version:
        if side.worktree.is_dir():
            return _read_worktree_file(side.worktree / path)
        return self._in_commit(side.head, path)

    def _ancestor(self, left: str | None, right: str | None, path: str) -> _Version:
        if left is None or right is None:
            return _Version(None, None, MODE_BLOB)
        pair = (left, right) if left <= right else (right, left)
        if pair in self._merge_bases:
            return self._in_commit(self._merge_bases[pair], path)
        try:
            found = self.repo.merge_base(left, right)
            base = str(found) if found else None
        except (pygit2.GitError, KeyError, ValueError):
            return self._in_commit(None, path)  # not cached: a fetch may bring the commits
        _bounded_put(self._merge_bases, pair, base, _MERGE_BASE_LIMIT)
        return self._in_commit(base, path)

    def _in_commit(self, commit_id: str | None, path: str) -> _Version:
        if commit_id is None:
            return _Version(None, None, MODE_BLOB)
        cached = self._in_commits.get((commit_id, path))
        if cached is not None:
            return cached
        try:
            tree = self.repo[commit_id].peel(pygit2.Tree)
        except (KeyError, ValueError, pygit2.GitError):
            return _Version(None, None, MODE_BLOB)  # not cached: a fetch may bring it
        entry = tree_entry(tree, path)
        if entry is None:
            version = _Version(None, None, MODE_BLOB)  # not in that commit, for good
        else:
            version = _Version(str(entry.id), None, int(entry.filemode)) \
                if entry.type_str == "blob" else _Version(None, None, MODE_BLOB)
        _bounded_put(self._in_commits, (commit_id, path), version, _IN_COMMIT_LIMIT)
        return version


def _bounded_put(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def _read_worktree_file(file_path: Path) -> _Version:
    try:
        if file_path.is_symlink():
            data = os.readlink(file_path).encode("utf-8", "surrogateescape")
            mode = MODE_LINK
        else:
            data = file_path.read_bytes()
            mode = MODE_EXEC if os.access(file_path, os.X_OK) else MODE_BLOB
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return _Version(None, None, MODE_BLOB)
    except OSError:
        return _Version(None, None, MODE_BLOB)
    return _Version(str(pygit2.hash(data)), data, mode)


def conflict_ranges(merged: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Line ranges (ours, theirs) of each conflict in merged text with conflict markers.

    Ranges are 1-based and inclusive in each side's own file; an empty side is given as
    (n, n - 1) where n is the line where the other side's lines would go.
    """
    ranges: list[tuple[tuple[int, int], tuple[int, int]]] = []
    ours_line = theirs_line = 0
    section: str | None = None
    ours_start = theirs_start = 0
    for line in merged.splitlines():
        if section is None and line.startswith("<<<<<<<"):
            section, ours_start = "ours", ours_line + 1
        elif section == "ours" and line.startswith("|||||||"):
            section = "base"
        elif section in ("ours", "base") and line.startswith("======="):
            section, theirs_start = "theirs", theirs_line + 1
        elif section == "theirs" and line.startswith(">>>>>>>"):
            ranges.append(((ours_start, ours_line), (theirs_start, theirs_line)))
            section = None
        elif section == "ours":
            ours_line += 1
        elif section == "theirs":
            theirs_line += 1
        elif section is None:
            ours_line += 1
            theirs_line += 1
    return ranges
