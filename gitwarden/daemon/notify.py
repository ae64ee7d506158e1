"""Sending notifications through the channels (channels.py) without blocking, and the gate
that deduplicates and rate-limits them.

Sending never blocks the caller for long and never raises: a notification daemon may not
exist (at boot, over SSH), and every notification is an event in the log anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

from gitwarden.config import SEVERITIES, NotificationConfig
from gitwarden.daemon.channels import (
    COMMAND_TIMEOUT,
    Channel,
    Delivery,
    DesktopChannel,
    deliver_all,
)

log = logging.getLogger("gitwarden.notify")

# Room for the user's command (its own timeout is COMMAND_TIMEOUT) after a desktop send.
SEND_TIMEOUT = COMMAND_TIMEOUT + 5.0


class Notifier(Protocol):
    def send(self, title: str, body: str) -> bool: ...


class SafeSender:
    """Runs deliveries on a worker thread with a timeout; each channel's failure is logged once
    (with what is missing and the fix) until it works again."""

    def __init__(self, channels: Sequence[Channel] | Notifier,
                 timeout: float = SEND_TIMEOUT) -> None:
        self.channels: list[Channel] = (
            [DesktopChannel(channels.send)] if not isinstance(channels, Sequence)
            else list(channels))
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gitwarden-notify")
        self._failing: set[str] = set()
        self._lock = threading.Lock()

    def send(self, title: str, body: str, severity: str = "warning") -> bool:
        """True when at least one channel delivered."""
        return any(result.ok for result in self.deliver(title, body, severity))

    def deliver(self, title: str, body: str, severity: str = "warning") -> list[Delivery]:
        channels = list(self.channels)
        try:
            future = self._pool.submit(deliver_all, channels, title, body, severity)
            results = future.result(timeout=self._timeout)
        except FutureTimeout:
            results = [Delivery(c.name, False, f"timed out after {self._timeout:g}s")
                       for c in channels]
        except Exception as exc:
            results = [Delivery(c.name, False, f"{type(exc).__name__}: {exc}")
                       for c in channels]
        with self._lock:
            for result in results:
                if not result.ok and result.channel not in self._failing:
                    self._failing.add(result.channel)
                    log.warning("cannot deliver %s notifications (%s); they stay in "
                                "`gitwarden events`", result.channel, result.problem)
                elif result.ok and result.channel in self._failing:
                    self._failing.discard(result.channel)
                    log.info("%s notifications work again", result.channel)
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class NotificationGate:
    """Decides whether a notification goes out: enabled, severity, dedup and rate limits."""

    def __init__(self, config: NotificationConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._last_by_key: dict[str, float] = {}
        self._recent: deque[float] = deque()

    def allow(self, key: str, severity: str) -> bool:
        config = self.config
        if not config.enabled or config.quiet:
            return False
        if _rank(severity) < _rank(config.min_severity):
            return False
        now = self._clock()
        last = self._last_by_key.get(key)
        if last is not None and now - last < config.rate_limit:
            return False
        while self._recent and now - self._recent[0] >= 60.0:
            self._recent.popleft()
        if len(self._recent) >= config.max_per_minute:
            return False
        self._last_by_key[key] = now
        self._recent.append(now)
        if len(self._last_by_key) > 10_000:
            cutoff = now - config.rate_limit
            self._last_by_key = {k: t for k, t in self._last_by_key.items() if t >= cutoff}
        return True


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
