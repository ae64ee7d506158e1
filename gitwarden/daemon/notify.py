"""Desktop notifications: a small notifier interface, the notify-py adapter, and the gate
that deduplicates and rate-limits them.

Sending never blocks the caller for long and never raises: a notification daemon may not
exist (at boot, over SSH), and every notification is an event in the log anyway.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

from gitwarden.config import SEVERITIES, NotificationConfig

log = logging.getLogger("gitwarden.notify")

APP_NAME = "gitwarden"
SEND_TIMEOUT = 5.0


class Notifier(Protocol):
    def send(self, title: str, body: str) -> bool: ...


class NullNotifier:
    """Notifications turned off (GITWARDEN_NO_NOTIFY=1): they are only logged."""

    def send(self, title: str, body: str) -> bool:
        log.info("notification (not delivered): %s: %s", title, body)
        return True


class NotifyPyNotifier:
    """notify-py: notify-send when on PATH, else D-Bus through jeepney."""

    def __init__(self) -> None:
        from loguru import logger

        # notify-py logs through loguru to stderr at import and on every failure.
        logger.disable("notifypy")
        from notifypy import Notify

        self._factory: Callable[[], object] = lambda: Notify(
            default_notification_application_name=APP_NAME, enable_logging=False)

    def send(self, title: str, body: str) -> bool:
        notification = self._factory()
        notification.title = title  # type: ignore[attr-defined]
        notification.message = body  # type: ignore[attr-defined]
        notification.application_name = APP_NAME  # type: ignore[attr-defined]
        return bool(notification.send(block=True))  # type: ignore[attr-defined]


def default_notifier() -> Notifier:
    if os.environ.get("GITWARDEN_NO_NOTIFY"):
        return NullNotifier()
    try:
        return NotifyPyNotifier()
    except Exception as exc:  # a broken notify-py install must not stop the daemon
        log.warning("desktop notifications unavailable: %s", exc)
        return NullNotifier()


class SafeSender:
    """Runs sends on a worker thread with a timeout; failures are logged once."""

    def __init__(self, notifier: Notifier, timeout: float = SEND_TIMEOUT) -> None:
        self._notifier = notifier
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gitwarden-notify")
        self._failed_before = False
        self._lock = threading.Lock()

    def send(self, title: str, body: str) -> bool:
        try:
            future = self._pool.submit(self._notifier.send, title, body)
            ok = bool(future.result(timeout=self._timeout))
            error = None if ok else "the notifier reported failure"
        except FutureTimeout:
            ok, error = False, f"timed out after {self._timeout:g}s"
        except Exception as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        with self._lock:
            if not ok and not self._failed_before:
                self._failed_before = True
                log.warning("cannot deliver desktop notifications (%s); they stay in "
                            "`gitwarden events`", error)
            elif ok and self._failed_before:
                self._failed_before = False
                log.info("desktop notifications work again")
        return ok

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
