"""The local lock table as a cache of the remote's locks, and this machine's claims on them.

Invariant: hooks and guards read only the local table. Locks of agents on other machines are
cached there as `agent@machine` (from the last fetch; machines gone stale are left out), and
every path lock of a local agent is claimed on the remote by compare-and-swap. A lock taken
while the remote is unreachable stays local-only (and is shown so) until the next exchange
claims it; if another machine won it meanwhile, the remote's compare-and-swap decides: the
local lock is released and its agent told.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitwarden.config import RemoteConfig
from gitwarden.coordination import locks
from gitwarden.coordination.lock_rules import PATH, Lock
from gitwarden.remote import claims, state
from gitwarden.remote.claims import RemoteLock
from gitwarden.remote.presence import read_machines, stale_machines
from gitwarden.remote.refs import is_remote_holder, lock_ref, machine_id
from gitwarden.remote.transport import RemoteUnreachable, fetch
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event, record_notice


@dataclass
class ClaimReport:
    claimed: list[Lock] = field(default_factory=list)
    local_only: list[Lock] = field(default_factory=list)
    lost: list[tuple[Lock, RemoteLock]] = field(default_factory=list)
    released: int = 0
    unreachable: str | None = None


def reconcile_claims(cwd: Path, store: Store, remote: str, machine: str, *,
                     stale_machines: Collection[str] = (), agent: str | None = None,
                     tell_loser: bool = True) -> ClaimReport:
    """Bring the remote in line with the local path locks of local agents (all, or `agent`'s):
    claim new ones, renew changed expiries, release dropped ones. Stops at the first network
    failure, marking what is left local-only."""
    report = ClaimReport()
    now = time.time()
    held = [lock for lock in locks.list_locks(store, kind=PATH, include_expired=False)
            if not is_remote_holder(lock.agent) and (agent is None or lock.agent == agent)]
    known = state.claims(store)
    wanted = {lock_ref(lock.kind, lock.pattern): lock for lock in held}
    try:
        for ref, lock in wanted.items():
            claim_of = known.get(ref)
            if claim_of is not None and claim_of.status == state.HELD and \
                    claim_of.agent == lock.agent:
                if claim_of.expires_at != lock.expires_at and claim_of.commit:
                    _renew(cwd, store, remote, machine, lock, claim_of, report, tell_loser)
                continue
            _claim(cwd, store, remote, machine, lock, stale_machines, report, tell_loser)
        for ref, claim_of in known.items():
            if ref in wanted or (agent is not None and claim_of.agent != agent):
                continue
            if claim_of.status in (state.HELD, state.RELEASING) and claim_of.commit:
                claims.release(cwd, remote, {ref: claim_of.commit})
                report.released += 1
            state.drop_claim(store, ref)
    except RemoteUnreachable as exc:
        report.unreachable = exc.message
        for ref, lock in wanted.items():
            claim_of = state.claims(store).get(ref)
            if claim_of is None or claim_of.agent != lock.agent:
                state.put_claim(store, state.Claim(ref, lock.kind, lock.pattern, lock.agent,
                                                   None, lock.expires_at, state.LOCAL_ONLY, now))
                report.local_only.append(lock)
        for ref, claim_of in state.claims(store).items():
            if ref not in wanted and claim_of.status == state.HELD and \
                    (agent is None or claim_of.agent == agent):
                state.put_claim(store, state.Claim(ref, claim_of.kind, claim_of.pattern,
                                                   claim_of.agent, claim_of.commit,
                                                   claim_of.expires_at, state.RELEASING, now))
    return report


def _claim(cwd: Path, store: Store, remote: str, machine: str, lock: Lock,
           stale_machines: Collection[str], report: ClaimReport, tell_loser: bool) -> None:
    outcome = claims.claim(cwd, remote, machine=machine, agent=lock.agent,
                           patterns=[lock.pattern], reason=lock.reason,
                           expires_at=lock.expires_at, kind=lock.kind,
                           stale_machines=stale_machines)
    ref = lock_ref(lock.kind, lock.pattern)
    if outcome.granted:
        state.put_claim(store, state.Claim(ref, lock.kind, lock.pattern, lock.agent,
                                           outcome.commits[lock.pattern], lock.expires_at,
                                           state.HELD, time.time()))
        report.claimed.append(lock)
        return
    if not outcome.conflicts:
        # The ref kept changing under us (contention, no holder to name): try again at the
        # next exchange rather than take the lock away.
        state.put_claim(store, state.Claim(ref, lock.kind, lock.pattern, lock.agent, None,
                                           lock.expires_at, state.LOCAL_ONLY, time.time()))
        report.local_only.append(lock)
        return
    _lose(store, lock, outcome.conflicts[0], report, tell_loser)


def _renew(cwd: Path, store: Store, remote: str, machine: str, lock: Lock,
           claim_of: state.Claim, report: ClaimReport, tell_loser: bool) -> None:
    assert claim_of.commit is not None
    new = claims.renew(cwd, remote, ref=claim_of.ref, old=claim_of.commit, kind=lock.kind,
                       pattern=lock.pattern, machine=machine, agent=lock.agent,
                       reason=lock.reason, acquired_at=lock.acquired_at,
                       expires_at=lock.expires_at)
    if new is not None:
        state.put_claim(store, state.Claim(claim_of.ref, lock.kind, lock.pattern, lock.agent,
                                           new, lock.expires_at, state.HELD, claim_of.since))
        return
    state.drop_claim(store, claim_of.ref)
    _lose(store, lock, None, report, tell_loser)


def _lose(store: Store, lock: Lock, winner: RemoteLock | None, report: ClaimReport,
          tell_loser: bool) -> None:
    """The remote decided against a local lock: release it here and tell its agent."""
    state.drop_claim(store, lock_ref(lock.kind, lock.pattern))
    locks.release(store, lock.agent, [lock.pattern], kind=lock.kind)
    if winner is not None:
        report.lost.append((lock, winner))
        cache_remote_locks(store, [winner], replace=False)
    if not tell_loser:
        return
    who = f"agent {winner.agent} on machine {winner.machine}" if winner else "another machine"
    message = (f"lock '{lock.pattern}' of agent {lock.agent} was not granted on the shared "
               f"remote: {who} holds it; the local lock is released")
    record_notice(store, EventKind.REMOTE_LOCK_LOST, message,
                  title=f"gitwarden: {lock.agent} lost a lock", agent=lock.agent,
                  path=lock.pattern,
                  data={"lock": lock.as_json(), "winner": winner.as_json() if winner else None})


def cache_remote_locks(store: Store, remote_held: Sequence[RemoteLock], *,
                       replace: bool = True) -> None:
    """Mirror other machines' live locks into the local table as `agent@machine`; with
    `replace`, cached locks no longer on the remote are dropped."""
    now = time.time()
    wanted = {(lock.holder, lock.kind, lock.pattern): lock for lock in remote_held
              if not lock.expired(now)}
    if replace:
        for cached in locks.list_locks(store):
            if is_remote_holder(cached.agent) and \
                    (cached.agent, cached.kind, cached.pattern) not in wanted:
                locks.release(store, cached.agent, [cached.pattern], kind=cached.kind)
    for (holder, kind, pattern), lock in wanted.items():
        ttl = None if lock.expires_at is None else max(lock.expires_at - now, 0.001)
        locks.acquire(store, holder, [pattern], ttl=ttl, reason=lock.reason, kind=kind,
                      notify_stale=False)


def refresh_cache(cwd: Path, store: Store, remote: str, machine: str,
                  stale_machines: Collection[str]) -> list[RemoteLock]:
    """Cache the live locks of other, non-stale machines from the last fetch."""
    others = [lock for lock in claims.remote_locks(cwd, remote)
              if lock.machine != machine and lock.machine not in stale_machines]
    cache_remote_locks(store, others)
    return others


def acquire_everywhere(cwd: Path, store: Store, remote: str, machine: str, agent: str,
                       patterns: Sequence[str], *, interval: float, wait: float = 0.0,
                       poll: float = 1.0, **kwargs: object
                       ) -> tuple[locks.LockResult, ClaimReport]:
    """`locks.acquire` here, then the claim on the remote; a claim refused by another machine
    undoes the local grant. Each try starts from a fresh fetch of the remote's locks (when it
    answers). With `wait`, retried until granted or `wait` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        stale: set[str] = set()
        offline: str | None = None
        fresh: set[tuple[str, str, str]] | None = None
        try:
            fetch(cwd, remote)
            stale = stale_machines(read_machines(cwd, remote), time.time(), interval)
            fresh = {(lock.holder, lock.kind, lock.pattern)
                     for lock in refresh_cache(cwd, store, remote, machine, stale)}
        except RemoteUnreachable as exc:
            offline = exc.message
        result = locks.acquire(store, agent, patterns, **kwargs)  # type: ignore[arg-type]
        if not result.granted and fresh is not None and _drop_ghosts(store, result, fresh):
            result = locks.acquire(store, agent, patterns, **kwargs)  # type: ignore[arg-type]
        report = ClaimReport(unreachable=offline)
        if result.granted:
            report = reconcile_claims(cwd, store, remote, machine, agent=agent,
                                      stale_machines=stale, tell_loser=False)
            lost = {lock.pattern for lock, _winner in report.lost}
            if lost & set(patterns):
                locks.release(store, agent, patterns)
                result = locks.LockResult(
                    granted=False, conflicts=[(lock.pattern, _as_local(winner))
                                              for lock, winner in report.lost])
        if result.granted or time.monotonic() >= deadline:
            return result, report
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def _drop_ghosts(store: Store, result: locks.LockResult,
                 fresh: set[tuple[str, str, str]]) -> bool:
    """When every conflict is a cached lock of another machine that the fetch just made is no
    longer there (a daemon refreshed the cache from an older fetch meanwhile), drop those
    rows; True when the acquire is worth trying again."""
    ghosts = [lock for _pattern, lock in result.conflicts if is_remote_holder(lock.agent)
              and (lock.agent, lock.kind, lock.pattern) not in fresh]
    if not ghosts or len(ghosts) != len(result.conflicts):
        return False
    for lock in ghosts:
        locks.release(store, lock.agent, [lock.pattern], kind=lock.kind)
    return True


def _as_local(lock: RemoteLock) -> Lock:
    now = time.time()
    return Lock(id=0, kind=lock.kind, pattern=lock.pattern, agent=lock.holder,
                reason=lock.reason, acquired_at=lock.acquired_at, renewed_at=now,
                expires_at=lock.expires_at)


def record_reconnect(store: Store, remote: str, down_since: float) -> None:
    record_event(store, EventKind.REMOTE_RECONNECTED,
                 f"remote {remote} answers again (unreachable since "
                 f"{time.strftime('%H:%M:%S', time.localtime(down_since))})")


def sync_agent_claims(cwd: Path, store: Store, config: RemoteConfig,
                      agent: str | None) -> ClaimReport:
    """After a lock command changed `agent`'s locks here: claim, renew or release them on the
    remote now rather than at the daemon's next exchange."""
    machine = machine_id(config.machine)
    try:
        fetch(cwd, config.name)
        stale = stale_machines(read_machines(cwd, config.name), time.time(), config.interval)
    except RemoteUnreachable as exc:
        stale = set()
        report = reconcile_claims(cwd, store, config.name, machine, agent=agent,
                                  stale_machines=stale, tell_loser=False)
        report.unreachable = report.unreachable or exc.message
        return report
    return reconcile_claims(cwd, store, config.name, machine, agent=agent,
                            stale_machines=stale)


def force_release_remote(cwd: Path, config: RemoteConfig, released: Sequence[Lock]) -> int:
    """The user force-released cached locks of other machines: delete their lock refs on the
    remote, each leased on the commit last fetched (a renewed lock is left alone)."""
    wanted = {(lock.agent, lock.kind, lock.pattern) for lock in released
              if is_remote_holder(lock.agent)}
    if not wanted:
        return 0
    fetch(cwd, config.name)
    held = {lock.ref: lock.commit for lock in claims.remote_locks(cwd, config.name)
            if (lock.holder, lock.kind, lock.pattern) in wanted}
    return len(claims.release(cwd, config.name, held))
