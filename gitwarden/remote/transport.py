"""Talking to the shared remote: fetch and push of gitwarden's own refspecs only.

Invariant: every push names each ref explicitly with a lease (`--force-with-lease=<ref>:<old>`,
an empty <old> meaning "must not exist yet") and never pushes tags or the user's branches;
every fetch uses explicit refspecs into refs/gitwarden/remote/<remote>/ with `--no-tags`. The
user's transport and credentials are git's own (remote URL, ssh config, credential helpers);
prompts are off (GIT_TERMINAL_PROMPT=0), so an unanswerable remote fails instead of hanging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitwarden.errors import GitError, GitwardenError
from gitwarden.git.runner import run_git
from gitwarden.remote.refs import SHARED_ROOT, fetch_refspecs, mirror_prefix

NETWORK_TIMEOUT = 60.0
# Never let gitwarden's own fetches start a gc or maintenance run in the user's repository.
_QUIET_CONFIG = ["-c", "gc.auto=0", "-c", "maintenance.auto=false",
                 "-c", "fetch.recurseSubmodules=false"]


class RemoteUnreachable(GitwardenError):
    """The remote did not answer (network, server down, credentials); local work goes on."""


@dataclass(frozen=True)
class RefUpdate:
    """Set `ref` to `new` (None: delete it) only if the remote has it at `expect`
    (None: only if the remote does not have it)."""

    ref: str
    new: str | None
    expect: str | None

    def __post_init__(self) -> None:
        if not self.ref.startswith(SHARED_ROOT):
            raise ValueError(f"gitwarden pushes only refs under {SHARED_ROOT}: {self.ref}")


@dataclass
class PushOutcome:
    """Per-ref result of one push: `rejected` maps refs to git's reason."""

    accepted: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.rejected


def push(cwd: Path, remote: str, updates: Sequence[RefUpdate], *, atomic: bool = False,
         owned: bool = False) -> PushOutcome:
    """Push `updates`, each guarded by its lease; with `atomic`, all or none are applied.
    `owned` (this machine's own presence refs, which nobody else writes) forces instead."""
    if not updates:
        return PushOutcome()
    # --no-verify: the user's pre-push hooks are about their branches, not gitwarden's refs.
    args = [*_QUIET_CONFIG, "push", "--porcelain", "--no-verify", "--no-tags"]
    if atomic and len(updates) > 1:
        args.append("--atomic")
    refspecs = []
    for update in updates:
        if owned:
            refspecs.append(f"+{update.new or ''}:{update.ref}" if update.new
                            else f":{update.ref}")
            continue
        args.append(f"--force-with-lease={update.ref}:{update.expect or ''}")
        refspecs.append(f"{update.new or ''}:{update.ref}")
    try:
        proc = run_git([*args, remote, *refspecs], cwd, check=False, timeout=NETWORK_TIMEOUT)
    except GitError as exc:
        raise RemoteUnreachable(f"remote {remote}: {exc.message}") from exc
    outcome = _parse_porcelain(proc.stdout.decode("utf-8", "replace"))
    seen = set(outcome.accepted) | set(outcome.rejected)
    if not seen.issuperset(u.ref for u in updates):
        if proc.returncode == 0:
            raise RemoteUnreachable(f"remote {remote}: push reported no result")
        raise RemoteUnreachable(f"remote {remote}: {_last_line(proc.stderr)}")
    return outcome


def fetch(cwd: Path, remote: str, *, only: str | None = None) -> None:
    """Fetch every shared gitwarden ref (or those under the namespace `only`) into the private
    mirror, pruning deleted ones."""
    specs = [spec for spec in fetch_refspecs(remote) if only is None or
             spec.startswith(f"+{only}")]
    args = [*_QUIET_CONFIG, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--prune",
            "--no-recurse-submodules", remote, *specs]
    proc = run_git(args, cwd, check=False, timeout=NETWORK_TIMEOUT)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"remote {remote}: {_last_line(proc.stderr)}")


def mirrored_refs(cwd: Path, remote: str, under: str = "") -> dict[str, str]:
    """{shared ref: commit} as last fetched (the mirror), optionally under a namespace."""
    prefix = mirror_prefix(remote)
    proc = run_git(["for-each-ref", "--format=%(refname) %(objectname)", prefix], cwd)
    found: dict[str, str] = {}
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        ref, _, oid = line.rpartition(" ")
        shared = SHARED_ROOT + ref[len(prefix):]
        if shared.startswith(under):
            found[shared] = oid
    return found


def _parse_porcelain(text: str) -> PushOutcome:
    outcome = PushOutcome()
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or len(parts[0]) != 1:
            continue
        flag, spec, summary = parts[0], parts[1], parts[2]
        ref = spec.rpartition(":")[2]
        if flag == "!":
            outcome.rejected[ref] = summary
        else:
            outcome.accepted.append(ref)
    return outcome


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()
             if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else "failed"
