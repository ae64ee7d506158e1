"""The portable watcher on watchdog's observer gives the pipeline what the inotify one does:
events only for the directories asked for (an ignored tree's are dropped), moves as a
move-from and a move-to, nothing after a tree is removed. watchdog's inotify observer stands in
for FSEvents and kqueue, which cannot run on Linux; the real-path mapping FSEvents needs is
exercised through a symlinked root."""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.observers import Observer

from gitwarden.daemon.observer_watcher import ObserverWatcher
from gitwarden.daemon.watcher import FsEvent, WatchLimitError


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[ObserverWatcher, queue.Queue[FsEvent], Path]]:
    events: queue.Queue[FsEvent] = queue.Queue()
    watcher = ObserverWatcher(events.put, Observer, "observer:inotify")
    watcher.start()
    root = tmp_path / "tree"
    (root / "src").mkdir(parents=True)
    (root / "node_modules" / "pkg").mkdir(parents=True)
    yield watcher, events, root
    watcher.stop()


def _until(events: queue.Queue[FsEvent], wanted: FsEvent) -> list[FsEvent]:
    seen = []
    while wanted not in seen:
        seen.append(events.get(timeout=10))
    return seen


def test_only_added_directories_report(
        watched: tuple[ObserverWatcher, queue.Queue[FsEvent], Path]) -> None:
    watcher, events, root = watched
    for directory in (root, root / "src"):  # node_modules is ignored: never added
        assert watcher.add(str(directory))
    assert watcher.add(str(root / "vanished")) is False
    assert watcher.count == 2
    (root / "node_modules" / "pkg" / "index.js").write_text("x")
    (root / "src" / "a.py").write_text("a")
    seen = _until(events, FsEvent(str(root / "src" / "a.py"), "write"))
    assert FsEvent(str(root / "src" / "a.py"), "create") in seen
    assert not any("node_modules" in e.path for e in seen)
    os.rename(root / "src" / "a.py", root / "b.py")
    seen = _until(events, FsEvent(str(root / "b.py"), "move-to"))
    assert FsEvent(str(root / "src" / "a.py"), "move-from") in seen
    assert watcher.remove_tree(str(root / "src")) == 1
    (root / "src" / "c.py").write_text("c")
    (root / "d.py").write_text("d")
    seen = _until(events, FsEvent(str(root / "d.py"), "write"))
    assert not any(e.path.endswith("c.py") for e in seen)


def test_a_symlinked_root_reports_under_the_name_it_was_added_as(
        tmp_path: Path,
        watched: tuple[ObserverWatcher, queue.Queue[FsEvent], Path]) -> None:
    watcher, events, root = watched
    link = tmp_path / "link"
    link.symlink_to(root, target_is_directory=True)
    assert watcher.add(str(link))
    (root / "e.py").write_text("e")
    _until(events, FsEvent(str(link / "e.py"), "write"))


def test_the_watch_limit_is_a_watch_limit_error(
        monkeypatch: pytest.MonkeyPatch,
        watched: tuple[ObserverWatcher, queue.Queue[FsEvent], Path]) -> None:
    _, _, root = watched
    monkeypatch.setenv("GITWARDEN_WATCH_LIMIT", "1")
    limited = ObserverWatcher(print, Observer, "observer:inotify")
    limited.start()
    try:
        assert limited.add(str(root))
        with pytest.raises(WatchLimitError):
            limited.add(str(root / "src"))
    finally:
        limited.stop()
