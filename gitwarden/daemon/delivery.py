"""Delivering notifications for events that ask for one (data.notify = true), and logging
every event of severity warning or above once (action_log.py).

Any process may record such an event (the daemon itself, a hook, a health run); this thread
picks them up from the events table, so the event is the log and delivery is best effort.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gitwarden.daemon.action_log import log_event
from gitwarden.daemon.notify import NotificationGate, SafeSender
from gitwarden.git.repository import Repo
from gitwarden.store.db import Store
from gitwarden.store.events import Event, list_events

log = logging.getLogger("gitwarden.delivery")

POLL_INTERVAL = 1.0


class NotificationDispatcher:
    def __init__(self, repo: Repo, gate: NotificationGate, sender: SafeSender,
                 on_delivered: Callable[[Event, bool], None] | None = None) -> None:
        self.repo = repo
        self.gate = gate
        self.sender = sender
        self._on_delivered = on_delivered
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self.delivered = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gitwarden-notifications",
                                        daemon=True)
        self._thread.start()
        self._started.wait(10)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            store = Store.open(self.repo)
            newest = list_events(store, limit=1)
        except Exception as exc:
            log.error("notifications are off: cannot read the event log: %s", exc)
            self._started.set()
            return
        with store:
            last_id = newest[-1].id if newest else 0
            last_ts = newest[-1].ts if newest else 0.0
            reopened_at: float | None = None
            self._started.set()
            while not self._stopping.is_set():
                self._wake.wait(POLL_INTERVAL)
                self._wake.clear()
                try:
                    if store.reopen_if_replaced() is not None:
                        # Another database file: go on from the time, not the id, last seen
                        # (a recreated one starts at id 1, a restored backup holds the past).
                        last_id, reopened_at = 0, last_ts
                    events = list_events(store, after_id=last_id, limit=500)
                except Exception:
                    log.exception("cannot read the event log")
                    continue
                for event in events:
                    last_id = max(last_id, event.id)
                    last_ts = max(last_ts, event.ts)
                    if reopened_at is not None and event.ts < reopened_at:
                        continue
                    log_event(event)
                    if event.data.get("notify") is True:
                        self._deliver(event)
                if events:
                    reopened_at = None

    def _deliver(self, event: Event) -> None:
        title = str(event.data.get("title") or f"gitwarden: {event.kind}")
        body = str(event.data.get("body") or event.message)
        key = str(event.data.get("dedup") or f"{title}\n{body}")
        if not self.gate.allow(key, event.severity):
            log.debug("notification suppressed (duplicate, rate limit or settings): %s", title)
            return
        ok = self.sender.send(title, body, event.severity)
        if ok:
            self.delivered += 1
            log.info("notified: %s", title)
        if self._on_delivered is not None:
            self._on_delivered(event, ok)
