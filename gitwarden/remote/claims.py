"""Locks on the shared remote: compare-and-swap on one ref per locked pattern.

A lock is refs/gitwarden/locks/<hash of kind and pattern> pointing at a record commit naming
its holder (machine, agent), reason and expiry. Taking it is a push that must create the ref
(`--force-with-lease=<ref>:` with an empty expectation; `--atomic` for several patterns), so
among any number of machines racing for it the remote's ref transaction lets exactly one win.
Renewing, releasing and taking over an expired lock (or one of a stale machine) are pushes
leased on the commit last seen. Overlapping but different globs live in different refs: after
winning its refs a claimant re-reads every lock and backs off if another holder's live lock
overlaps one of its patterns (both may back off; neither holds what the other holds).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitwarden.coordination.lock_rules import PATH, RESOURCE
from gitwarden.coordination.scope import patterns_overlap
from gitwarden.remote.records import read_records, write_record
from gitwarden.remote.refs import LOCKS, is_safe_name, lock_ref, mirror_prefix, qualified, shown
from gitwarden.remote.transport import RefUpdate, fetch, push

CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class RemoteLock:
    ref: str
    commit: str
    kind: str
    pattern: str
    machine: str
    agent: str
    reason: str
    acquired_at: float
    expires_at: float | None

    @property
    def holder(self) -> str:
        return qualified(self.agent, self.machine)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def as_json(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "kind": self.kind, "machine": self.machine,
                "agent": self.agent, "reason": self.reason, "acquired_at": self.acquired_at,
                "expires_at": self.expires_at, "ref": self.ref}


@dataclass
class ClaimOutcome:
    granted: bool
    commits: dict[str, str] = field(default_factory=dict)  # pattern -> record commit
    conflicts: list[RemoteLock] = field(default_factory=list)
    taken_over: list[RemoteLock] = field(default_factory=list)


def remote_locks(cwd: Path, remote: str) -> list[RemoteLock]:
    """Every lock on the remote as last fetched into the mirror."""
    found = []
    for ref, commit, kind, data in read_records(cwd, mirror_prefix(remote) + "locks/"):
        if kind != "lock" or not is_safe_name(str(data.get("machine") or "")) or \
                not is_safe_name(str(data.get("agent") or "")):
            continue
        expires = data.get("expires_at")
        found.append(RemoteLock(
            ref=LOCKS + ref.rpartition("/")[2], commit=commit,
            kind=str(data.get("kind") or PATH), pattern=str(data.get("pattern") or ""),
            machine=str(data.get("machine") or ""), agent=str(data.get("agent") or ""),
            reason=shown(str(data.get("reason") or "")),
            acquired_at=float(data.get("acquired_at") or 0.0),
            expires_at=float(expires) if expires is not None else None))
    return found


def lock_record(cwd: Path, *, kind: str, pattern: str, machine: str, agent: str, reason: str,
                acquired_at: float, expires_at: float | None) -> str:
    # The nonce makes every claim a distinct commit: a push of a commit the ref already has
    # is "up to date" for git and would not be checked against the empty lease.
    return write_record(cwd, "lock", {"kind": kind, "pattern": pattern, "machine": machine,
                                      "agent": agent, "reason": reason,
                                      "acquired_at": acquired_at, "expires_at": expires_at,
                                      "nonce": uuid.uuid4().hex})


def claim(cwd: Path, remote: str, *, machine: str, agent: str, patterns: Sequence[str],
          reason: str = "", expires_at: float | None, kind: str = PATH,
          stale_machines: Collection[str] = (), now: float | None = None) -> ClaimOutcome:
    """Take (or renew) all of `patterns` on the remote for agent@machine, or none of them.
    Raises RemoteUnreachable when the remote does not answer."""
    when = time.time() if now is None else now
    refs = {pattern: lock_ref(kind, pattern) for pattern in dict.fromkeys(patterns)}
    commits = {pattern: lock_record(cwd, kind=kind, pattern=pattern, machine=machine,
                                    agent=agent, reason=reason, acquired_at=when,
                                    expires_at=expires_at) for pattern in refs}
    expect: dict[str, str | None] = {ref: None for ref in refs.values()}
    taken_over: list[RemoteLock] = []
    for _attempt in range(CLAIM_ATTEMPTS):
        outcome = push(cwd, remote, [RefUpdate(refs[p], commits[p], expect[refs[p]])
                                     for p in refs], atomic=True)
        fetch(cwd, remote, only=LOCKS)
        current = {lock.ref: lock for lock in remote_locks(cwd, remote)}
        if outcome.ok:
            blocking = _overlapping_others(current.values(), machine, agent, list(refs), kind,
                                           set(refs.values()), stale_machines, when)
            if blocking:
                release(cwd, remote, {refs[p]: commits[p] for p in refs})
                return ClaimOutcome(False, conflicts=blocking)
            return ClaimOutcome(True, commits=commits, taken_over=taken_over)
        conflicts = []
        taken_over = []
        for ref in refs.values():
            lock = current.get(ref)
            if lock is None:
                expect[ref] = None
            elif (lock.machine, lock.agent) == (machine, agent):
                expect[ref] = lock.commit
            elif lock.expired(when) or lock.machine in stale_machines:
                expect[ref] = lock.commit
                taken_over.append(lock)
            else:
                conflicts.append(lock)
        if conflicts:
            return ClaimOutcome(False, conflicts=conflicts)
    return ClaimOutcome(False)


def release(cwd: Path, remote: str, held: dict[str, str]) -> list[str]:
    """Delete lock refs {ref: our commit}, each leased on our commit; returns the refs that
    were ours and are gone (a ref someone else holds now is left alone)."""
    if not held:
        return []
    outcome = push(cwd, remote, [RefUpdate(ref, None, commit) for ref, commit in held.items()])
    return list(outcome.accepted)


def renew(cwd: Path, remote: str, *, ref: str, old: str, kind: str, pattern: str,
          machine: str, agent: str, reason: str, acquired_at: float,
          expires_at: float | None) -> str | None:
    """Move our lock ref from `old` to a record with the new expiry; None if it is no longer
    ours (taken over after it expired)."""
    new = lock_record(cwd, kind=kind, pattern=pattern, machine=machine, agent=agent,
                      reason=reason, acquired_at=acquired_at, expires_at=expires_at)
    outcome = push(cwd, remote, [RefUpdate(ref, new, old)])
    return new if outcome.ok else None


def _overlapping_others(locks: Collection[RemoteLock], machine: str, agent: str,
                        patterns: Sequence[str], kind: str, own_refs: set[str],
                        stale_machines: Collection[str], now: float) -> list[RemoteLock]:
    found = []
    for lock in locks:
        if lock.ref in own_refs or (lock.machine, lock.agent) == (machine, agent) or \
                lock.kind != kind or lock.expired(now) or lock.machine in stale_machines:
            continue
        if any((kind == RESOURCE and lock.pattern == p) or
               (kind == PATH and patterns_overlap(p, lock.pattern)) for p in patterns):
            found.append(lock)
    return found
