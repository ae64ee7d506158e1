"""Which file watcher this platform gets; the one place that decides.

Linux: the per-directory inotify fast path. Elsewhere: watchdog's platform observer
(FSEvents on macOS, kqueue on BSD). Neither available: polling. GITWARDEN_WATCHER=inotify,
observer or polling forces one (tests, and users on network mounts or in containers).
The watcher modules are imported here, inside the function, on purpose: inotify_c raises at
import on every platform but Linux, and `watchdog.observers` imports it on Linux.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from gitwarden.daemon.watcher import FsEvent, PollingWatcher, Watcher, WatchLimitError
from gitwarden.daemon.watches import limit_advice
from gitwarden.errors import ConfigError

log = logging.getLogger("gitwarden.watcher")

WATCHER_ENV = "GITWARDEN_WATCHER"
KINDS = ("inotify", "observer", "polling")


def choose_watcher(sink: Callable[[FsEvent], None], forced: str | None = None,
                   platform: str = sys.platform) -> Watcher:
    """The watcher for `platform`, or the one `forced` names (an empty string: no force)."""
    if forced:
        if forced not in KINDS:
            raise ConfigError(f"{WATCHER_ENV}={forced!r} is not one of {', '.join(KINDS)}")
        watcher = _build(forced, sink)
        if watcher is None:
            raise ConfigError(f"{WATCHER_ENV}={forced} is not available on this platform "
                              f"({platform}); use one of {', '.join(KINDS)}")
        return watcher
    order = ("inotify", "observer") if platform.startswith("linux") else ("observer",)
    for kind in order:
        watcher = _build(kind, sink)
        if watcher is not None:
            return watcher
    log.warning("no native file watcher on this platform (%s): polling every agent", platform)
    return PollingWatcher()


def start_or_poll(watcher: Watcher) -> Watcher:
    """Start `watcher`; when the platform refuses (no inotify instance left, no descriptors),
    the polling watcher instead."""
    try:
        watcher.start()
    except WatchLimitError as exc:
        log.warning("cannot start the %s watcher (%s): polling every agent instead; %s",
                    watcher.kind, exc.strerror, limit_advice(watcher.kind))
        return PollingWatcher()
    return watcher


def _build(kind: str, sink: Callable[[FsEvent], None]) -> Watcher | None:
    if kind == "polling":
        return PollingWatcher()
    if kind == "inotify":
        try:
            from gitwarden.daemon.inotify_watcher import DirectoryWatcher
        except (ImportError, OSError) as exc:
            log.info("inotify is not available (%s)", exc)
            return None
        return DirectoryWatcher(sink)
    factory = _native_observer()
    if factory is None:
        return None
    from gitwarden.daemon.observer_watcher import ObserverWatcher

    return ObserverWatcher(sink, factory, f"observer:{_observer_name(factory)}")


def _native_observer() -> Callable[[], Any] | None:
    """watchdog's native observer class, never its polling one (polling is ours: git status
    instead of a stat of every file)."""
    try:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver
    except (ImportError, OSError) as exc:
        log.info("watchdog has no native observer here (%s)", exc)
        return None
    if Observer is PollingObserver:
        return None
    factory: Callable[[], Any] = Observer
    return factory


def _observer_name(factory: Callable[[], Any]) -> str:
    name = getattr(factory, "__name__", "native")
    return name.removesuffix("Observer").lower() or "native"
