"""gitwarden runs on macOS as on Linux: no module reads /proc (process facts come from psutil)
and nothing imports the inotify internals outside the Linux watcher and the one place that
chooses a watcher."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gitwarden"


def test_no_module_reads_proc() -> None:
    readers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if "/proc" in path.read_text(encoding="utf-8"))
    assert readers == []


def test_only_the_linux_watcher_imports_inotify_internals() -> None:
    pattern = re.compile(r"^\s*(from|import) watchdog\.observers(\.inotify\w*)?\b", re.M)
    importers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                       if pattern.search(path.read_text(encoding="utf-8")))
    assert importers == ["daemon/inotify_watcher.py", "daemon/watcher_choice.py"]
