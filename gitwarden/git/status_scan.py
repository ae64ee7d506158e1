"""`git status` of a worktree, run as a background process: how the worktree differs from HEAD.

Started before pygit2 is imported, it runs on the other core while Python loads. Light module
(no pygit2): the checkpoint command starts scans before importing the rest.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gitwarden.git.objects import ZERO_OID
from gitwarden.git.runner import git_env

STATUS_ARGS = ("status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all",
               "--no-renames", "--ignore-submodules=dirty")
# One thread: the other core is left to the Python that is starting meanwhile.
_ONE_THREAD = ("-c", "core.preloadIndex=false")

_NO_OBJECT = ZERO_OID


class Unmerged(Exception):
    """The index has unmerged paths."""


@dataclass(frozen=True)
class StatusEntry:
    """One path that differs from HEAD.

    kind "worktree": the file differs from the index (read it from disk); "index": only staged,
    the index holds `index_oid`/`index_mode` (None: removed from the index); "untracked".
    """

    path: str
    kind: Literal["worktree", "index", "untracked"]
    index_oid: str | None = None
    index_mode: int | None = None


@dataclass(frozen=True)
class StatusResult:
    head: str | None  # None: unborn branch
    entries: list[StatusEntry]


def parse_status(output: bytes) -> StatusResult | None:
    """Parse porcelain v2 -z output; None for anything unexpected (the caller scans itself)."""
    head: str | None = None
    seen_head = False
    tracked: list[StatusEntry] = []
    untracked: list[StatusEntry] = []
    for record in output.split(b"\0"):
        if not record:
            continue
        text = record.decode("utf-8", "surrogateescape")
        if text.startswith("# branch.oid "):
            value = text[len("# branch.oid "):]
            head = None if value == "(initial)" else value
            seen_head = True
        elif text.startswith("#"):
            continue
        elif text.startswith("? "):
            untracked.append(StatusEntry(text[2:].rstrip("/"), "untracked"))
        elif text.startswith("1 "):
            fields = text.split(" ", 8)
            if len(fields) != 9:
                return None
            _, xy, _sub, _m_head, m_index, _m_wt, _h_head, h_index, path = fields
            if xy[1] != ".":
                tracked.append(StatusEntry(path, "worktree", None, int(m_index, 8) or None))
            elif h_index == _NO_OBJECT or int(m_index, 8) == 0:
                tracked.append(StatusEntry(path, "index"))
            else:
                tracked.append(StatusEntry(path, "index", h_index, int(m_index, 8)))
        elif text.startswith("u "):
            raise Unmerged(text.split(" ", 10)[-1])
        else:
            return None  # renames ("2 ") or a format this code does not know
    if not seen_head:
        return None
    return StatusResult(head, tracked + untracked)


class StatusScan:
    """A running `git status` (GIT_OPTIONAL_LOCKS=0: it never takes the index lock)."""

    def __init__(self, worktree: Path | str, *, one_thread: bool = False) -> None:
        self.worktree = Path(worktree)
        self.started = time.time()  # what git reads is at least this recent
        args = ["git", *(_ONE_THREAD if one_thread else ()), *STATUS_ARGS]
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                args, cwd=worktree, env=git_env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError:
            self._proc = None

    def result(self) -> StatusResult | None:
        """What git saw, or None when it could not tell (the caller scans by itself).

        Raises Unmerged when a merge or rebase left conflicts in the index.
        """
        if self._proc is None:
            return None
        output, _ = self._proc.communicate()
        if self._proc.returncode != 0:
            return None
        return parse_status(output)

    def cancel(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()


def worktree_top(start: Path | str) -> Path | None:
    """The worktree containing `start` (the nearest directory with a `.git`), without git."""
    current = Path(start).absolute()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    return None
