"""Advancing the base branch on the shared remote: the one push gitwarden makes outside
refs/gitwarden/, and only as a compare-and-swap.

Invariant: the remote branch moves from exactly `old` to `new`, and only when `new` contains
`old`; if another machine landed first the push is refused by the remote (lease on `old`) and
the caller learns the branch's current value, so two machines landing at once never lose a
commit. Extra gitwarden refs (a landing record) go in the same `--atomic` push.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitwarden.errors import GitError, GitwardenError
from gitwarden.git.runner import run_git
from gitwarden.remote.transport import NETWORK_TIMEOUT, RefUpdate, RemoteUnreachable


class NotAFastForward(GitwardenError):
    """`new` does not contain `old`: landing it would drop commits from the base."""


@dataclass(frozen=True)
class BaseAdvance:
    advanced: bool
    branch: str
    old: str
    new: str
    remote_now: str | None  # the branch on the remote after the attempt, when known
    reason: str | None = None


def advance_remote_base(repo: Path, remote: str, branch: str, old: str, new: str, *,
                        also: Sequence[RefUpdate] = ()) -> BaseAdvance:
    """Move `branch` on `remote` from `old` to `new` with a lease on `old` (and `also`,
    atomically). Raises NotAFastForward before pushing when `new` does not contain `old`, and
    RemoteUnreachable when the remote does not answer."""
    ref = branch if branch.startswith("refs/heads/") else f"refs/heads/{branch}"
    ancestry = run_git(["merge-base", "--is-ancestor", old, new], repo, check=False)
    if ancestry.returncode != 0:
        raise NotAFastForward(f"{new[:12]} does not contain {old[:12]}: refusing to move "
                              f"{ref} on {remote} (it would drop commits)")
    args = ["-c", "gc.auto=0", "push", "--porcelain", "--no-verify", "--no-tags", "--atomic",
            f"--force-with-lease={ref}:{old}"]
    refspecs = [f"{new}:{ref}"]
    for update in also:
        args.append(f"--force-with-lease={update.ref}:{update.expect or ''}")
        refspecs.append(f"{update.new or ''}:{update.ref}")
    try:
        proc = run_git([*args, remote, *refspecs], repo, check=False, timeout=NETWORK_TIMEOUT)
    except GitError as exc:
        raise RemoteUnreachable(f"remote {remote}: {exc.message}") from exc
    out = proc.stdout.decode("utf-8", "replace")
    status = [line for line in out.splitlines() if f":{ref}\t" in line]
    if proc.returncode == 0 and status and not status[0].startswith("!"):
        return BaseAdvance(True, ref, old, new, new)
    if not status:
        raise RemoteUnreachable(f"remote {remote}: "
                                f"{proc.stderr.decode('utf-8', 'replace').strip()[-300:]}")
    now = run_git(["ls-remote", remote, ref], repo, check=False, timeout=NETWORK_TIMEOUT)
    current = now.stdout.decode().split("\t")[0].strip() or None
    return BaseAdvance(False, ref, old, new, current, reason=status[0].split("\t")[-1])
