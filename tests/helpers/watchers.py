"""Run a daemon test once per file watcher: the inotify fast path and watchdog's portable
observer (on Linux its inotify observer stands in for FSEvents and kqueue, which cannot run
here). Mark the tests whose outcome rests on the watcher's events (edited paths, commits,
branch moves, new worktrees) with `pytest.mark.usefixtures("each_watcher")`; daemon logic that
any event path feeds the same way runs once, on the platform's default watcher."""

from __future__ import annotations

import pytest

from gitwarden.daemon.watcher_choice import WATCHER_ENV

WATCHERS = ("inotify", "observer")


@pytest.fixture(params=WATCHERS)
def each_watcher(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    kind: str = request.param
    monkeypatch.setenv(WATCHER_ENV, kind)
    return kind
