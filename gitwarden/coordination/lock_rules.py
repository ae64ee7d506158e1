"""Lock rules as pure functions: which held locks conflict with a request or cover a path,
which are stale, and how to describe them to the agent that is blocked."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from gitwarden.coordination.scope import matches, patterns_overlap
from gitwarden.units import format_duration

PATH = "path"
RESOURCE = "resource"
# Column order of the locks table that Lock(*row) expects.
LOCK_COLUMNS = ("id, kind, pattern, agent, reason, acquired_at, renewed_at, expires_at, pid, "
                "pid_start")


@dataclass(frozen=True)
class Lock:
    id: int
    kind: str
    pattern: str
    agent: str
    reason: str
    acquired_at: float
    renewed_at: float
    expires_at: float | None
    pid: int | None = None
    pid_start: int | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "kind": self.kind, "pattern": self.pattern, "agent": self.agent,
                "reason": self.reason, "acquired_at": self.acquired_at,
                "renewed_at": self.renewed_at, "expires_at": self.expires_at, "pid": self.pid}


@dataclass(frozen=True)
class StaleRules:
    """When a held lock no longer protects anything and may be taken away."""

    stale_after: float
    paused_since: Mapping[str, float]
    known_agents: Collection[str] | None = None
    last_activity: Mapping[str, float] | None = None
    process_alive: Callable[[int, int | None], bool] | None = None


def stale_reason(lock: Lock, rules: StaleRules, now: float) -> str | None:
    """Why `lock` is stale, or None while it still holds."""
    if lock.expired(now):
        return "its time-to-live expired"
    if lock.pid is not None and rules.process_alive is not None and \
            not rules.process_alive(lock.pid, lock.pid_start):
        return f"its holder process {lock.pid} is gone"
    # `agent@machine`: a cached lock of another machine ([remote]); the remote decides it.
    remote = "@" in lock.agent
    if rules.known_agents is not None and lock.kind == PATH and not remote and \
            lock.agent not in rules.known_agents:
        return f"agent {lock.agent} no longer exists"
    paused = rules.paused_since.get(lock.agent)
    if paused is not None and now - paused > rules.stale_after:
        return f"agent {lock.agent} has been paused for over {_fmt(rules.stale_after)}"
    activity = max(lock.renewed_at, (rules.last_activity or {}).get(lock.agent, 0.0))
    if lock.pid is None and not remote and now - activity > rules.stale_after:
        return f"agent {lock.agent} was inactive for over {_fmt(rules.stale_after)}"
    return None


def conflicts(held: Iterable[Lock], agent: str, patterns: Iterable[str],
              kind: str = PATH) -> list[tuple[str, Lock]]:
    """(requested pattern, lock) pairs where another agent holds an overlapping lock."""
    wanted = list(patterns)
    result: list[tuple[str, Lock]] = []
    for lock in held:
        if lock.agent == agent or lock.kind != kind:
            continue
        for pattern in wanted:
            if (kind == RESOURCE and lock.pattern == pattern) or \
                    (kind == PATH and patterns_overlap(pattern, lock.pattern)):
                result.append((pattern, lock))
    return result


def locks_covering(held: Iterable[Lock], path: str, *, other_than: str | None = None,
                   now: float | None = None) -> list[Lock]:
    """Unexpired path locks covering `path`, held by anyone but `other_than`."""
    when = time.time() if now is None else now
    return [lock for lock in held if lock.kind == PATH and lock.agent != other_than
            and not lock.expired(when) and matches(lock.pattern, path)]


def describe_until(lock: Lock, now: float | None = None) -> str:
    """'until 14:32 (in 25m)' or 'with no expiry'."""
    if lock.expires_at is None:
        return "with no expiry"
    when = time.time() if now is None else now
    clock = time.strftime("%H:%M", time.localtime(lock.expires_at))
    return f"until {clock} (in {_fmt(lock.expires_at - when)})"


def describe_holder(lock: Lock, now: float | None = None) -> str:
    reason = f" ({lock.reason})" if lock.reason else ""
    what = f"'{lock.pattern}'"
    return f"locked by agent {lock.agent} via {what}{reason} {describe_until(lock, now)}"


def _fmt(seconds: float) -> str:

    return format_duration(seconds)
