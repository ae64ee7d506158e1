"""The optional server-side guard for self-hosted remotes (a `pre-receive` hook).

Invariant: a push to an agent branch (refs/heads/agent/<name> by default) is refused when a
commit it brings changes a path covered by a live lock under refs/gitwarden/locks/ that
another agent holds; every other push, and every push when no lock matches, passes. The
server knows the pushing agent only from the branch name, not its machine: a holder is
"another" when its agent name differs. Runs inside the bare repository, reading the new
objects from git's quarantine; it never writes.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gitwarden.coordination.scope import matches
from gitwarden.git.objects import ZERO_OID
from gitwarden.git.runner import run_git, split_z
from gitwarden.remote.records import read_records
from gitwarden.remote.refs import LOCKS, qualified, shown

DEFAULT_BRANCHES = "refs/heads/agent/*"


@dataclass(frozen=True)
class Refusal:
    ref: str
    path: str
    holder: str
    pattern: str
    reason: str
    expires_at: float | None

    def message(self) -> str:
        until = "with no expiry" if self.expires_at is None else \
            "until " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.expires_at))
        why = f" ({self.reason})" if self.reason else ""
        return (f"gitwarden: refusing {self.ref}: {self.path} is locked by {self.holder} via "
                f"'{self.pattern}'{why} {until}; ask its holder to unlock it, then push again")


def check_updates(repo: Path, lines: Iterable[str], *, branches: str = DEFAULT_BRANCHES,
                  now: float | None = None) -> list[Refusal]:
    """The refusals for pre-receive input lines `<old> <new> <ref>`."""
    when = time.time() if now is None else now
    locks = [data for _ref, _commit, kind, data in read_records(repo, LOCKS)
             if kind == "lock" and data.get("kind", "path") == "path"
             and (data.get("expires_at") is None or float(data["expires_at"]) > when)]
    refusals: list[Refusal] = []
    if not locks:
        return refusals
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        old, new, ref = parts
        if new == ZERO_OID or not fnmatch.fnmatchcase(ref, branches):
            continue
        agent = ref.rpartition("/")[2]
        for path in sorted(pushed_paths(repo, old, new)):
            for data in locks:
                if str(data.get("agent")) == agent or not matches(str(data.get("pattern")), path):
                    continue
                refusals.append(Refusal(
                    ref=ref, path=path,
                    holder=shown(qualified(str(data.get("agent")), str(data.get("machine")))),
                    pattern=shown(str(data.get("pattern"))),
                    reason=shown(str(data.get("reason") or "")),
                    expires_at=float(data["expires_at"]) if data.get("expires_at") else None))
                break
    return refusals


def pushed_paths(repo: Path, old: str, new: str) -> set[str]:
    """Paths changed by the commits this push brings (those no existing ref reaches)."""
    args = ["log", "--format=", "--name-only", "-z", "--no-renames", "-m", new, "--not"]
    args += ["--all"] if old == ZERO_OID else [old, "--all"]
    return set(split_z(run_git(args, repo).stdout.replace(b"\n", b"\0")))
