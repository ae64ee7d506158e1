"""The inotify watcher's fence: once it returns, every event queued before it reached the sink."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gitwarden.daemon import inotify_watcher
from gitwarden.daemon.inotify_watcher import DirectoryWatcher
from gitwarden.daemon.watcher import FsEvent


def test_the_fence_returns_after_every_earlier_event_reached_the_sink(tmp_path: Path) -> None:
    seen: list[FsEvent] = []
    lock = threading.Lock()

    def slow_sink(event: FsEvent) -> None:
        time.sleep(0.002)  # a reader far behind the writer: the queue is still full
        with lock:
            seen.append(event)

    watched, cookies = tmp_path / "watched", tmp_path / "cookies"
    watched.mkdir()
    watcher = DirectoryWatcher(slow_sink)
    watcher.start()
    try:
        assert watcher.add(str(watched))
        for round_ in range(3):
            for i in range(150):
                (watched / f"{round_}-{i}.txt").write_text("x")
            assert watcher.fence(str(cookies), timeout=30)
            with lock:
                written = {e.path for e in seen if e.kind == "write"}
            assert {str(watched / f"{round_}-{i}.txt") for i in range(150)} <= written
            # the cookies are the daemon's own: never handed on, never left behind
            assert not any(str(cookies) in e.path for e in seen)
            assert list(cookies.iterdir()) == []
    finally:
        watcher.stop()
    assert not watcher.fence(str(cookies), timeout=1)  # stopped: nothing can be shown


def test_the_cookie_directory_is_watched_again_when_it_went_away(tmp_path: Path) -> None:
    seen: list[FsEvent] = []
    watched, cookies = tmp_path / "watched", tmp_path / "cookies"
    watched.mkdir()
    watcher = DirectoryWatcher(seen.append)
    watcher.start()
    try:
        assert watcher.add(str(watched))
        assert watcher.fence(str(cookies), timeout=10)
        cookies.rmdir()
        (watched / "a.txt").write_text("a")
        deadline = time.monotonic() + 10
        while not watcher.fence(str(cookies), timeout=1) and time.monotonic() < deadline:
            pass  # the first may race the removal's IN_IGNORED; the next one watches anew
        assert watcher.fence(str(cookies), timeout=10)
        assert str(watched / "a.txt") in {e.path for e in seen}
        assert oct(cookies.stat().st_mode & 0o777) == oct(0o700)
    finally:
        watcher.stop()


def test_files_written_and_not_closed_are_remembered_until_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inotify_watcher, "MAX_OPEN_WRITES", 2)
    seen: list[FsEvent] = []
    cookies = tmp_path.parent / f"{tmp_path.name}-cookies"
    watcher = DirectoryWatcher(seen.append)
    watcher.start()
    try:
        assert watcher.add(str(tmp_path))
        handles = [open(tmp_path / f"{n}.txt", "w", encoding="utf-8")  # noqa: SIM115
                   for n in range(3)]
        for handle in handles:
            handle.write("x")
            handle.flush()
        assert watcher.fence(str(cookies), timeout=10)
        assert watcher.open_writes() == {str(tmp_path / "0.txt"), str(tmp_path / "1.txt")}
        assert watcher.overflows == 1  # the third could not be remembered: events were lost
        assert [e for e in seen if e.kind == "write"] == []  # IN_MODIFY is not handed on
        for handle in handles:
            handle.close()
        assert watcher.fence(str(cookies), timeout=10)
        assert watcher.open_writes() == set()
    finally:
        watcher.stop()
