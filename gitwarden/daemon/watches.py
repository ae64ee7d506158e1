"""What the daemon watches: the git metadata, and each agent's non-ignored directories, one
watch per directory. An agent whose watches ran out is polled instead, and so is every agent
when the watcher is the polling one."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from gitwarden.daemon import gitscan
from gitwarden.daemon.watcher import Watcher, WatchLimitError
from gitwarden.errors import GitwardenError

log = logging.getLogger("gitwarden.pipeline")

_META_SKIP = {"index", "COMMIT_EDITMSG", "FETCH_HEAD", "ORIG_HEAD", "AUTO_MERGE", "gc.pid",
              "gc.log", "description", "logs", "objects", "hooks", "info", "gitwarden"}
WATCH_LIMIT_ADVICE = ("raise it with `sudo sysctl fs.inotify.max_user_watches=524288` "
                      "(persist in /etc/sysctl.d/)")
OPEN_FILES_ADVICE = ("raise the open-files limit (`ulimit -n`, on macOS `launchctl limit "
                     "maxfiles`) or set GITWARDEN_WATCHER=polling")


def limit_advice(kind: str) -> str:
    return WATCH_LIMIT_ADVICE if kind == "inotify" else OPEN_FILES_ADVICE


class AgentWatches:
    """The watch list of one daemon; used on the pipeline thread only."""

    def __init__(self, watcher: Watcher, common_dir: Path,
                 on_polling: Callable[[str, bool], None],
                 on_limit: Callable[[str, str, str], None]) -> None:
        self.watcher = watcher
        self.common_dir = common_dir
        self.polling: set[str] = set()
        self._on_polling = on_polling
        self._on_limit = on_limit  # (agent, message, notification body)

    def is_meta(self, path: str) -> bool:
        return path.startswith(str(self.common_dir) + os.sep)

    def meta_relevant(self, path: str) -> bool:
        """Whether a change under the git dir can move a ref, HEAD or the worktree list."""
        rel = os.path.relpath(path, self.common_dir)
        parts = rel.split(os.sep)
        if parts[-1].endswith(".lock") or any(p in _META_SKIP for p in parts):
            return False
        return not (len(parts) == 3 and parts[0] == "worktrees" and parts[2] == "index")

    def watch_meta(self) -> None:
        common = self.common_dir
        dirs = [str(common), str(common / "worktrees")]
        dirs += gitscan.watchable_dirs(common / "refs", "heads", set(), ()) \
            if (common / "refs" / "heads").is_dir() else []
        with contextlib.suppress(OSError):
            dirs += [entry.path for entry in os.scandir(common / "worktrees") if entry.is_dir()]
        for directory in dirs:
            try:
                self.watcher.add(directory, tree=False)
            except WatchLimitError:
                log.warning("no watch left for git metadata %s; relying on reconcile",
                            directory)
                return

    def watch_tree(self, name: str, root: Path, start: str, ignore: tuple[str, ...],
                   poll_interval: float) -> list[str]:
        """Watch `start` (relative to the agent's worktree `root`) and its non-ignored
        subdirectories; returns them."""
        if name in self.polling:
            return []
        if self.watcher.kind == "polling":
            self.polling.add(name)
            self._on_polling(name, True)
            return []
        try:
            ignored = gitscan.ignored_dirs(root, start or None)
            if start and start.rstrip("/") in ignored:
                return []
            dirs = gitscan.watchable_dirs(root, start, ignored, ignore)
        except (GitwardenError, OSError) as exc:
            log.warning("cannot list directories of %s: %s", name, exc)
            return []
        try:
            for directory in dirs:
                self.watcher.add(directory)
        except WatchLimitError as exc:
            self._fall_back_to_polling(name, root, exc, poll_interval)
        return dirs

    def _fall_back_to_polling(self, name: str, root: Path, exc: WatchLimitError,
                              interval: float) -> None:
        self.watcher.remove_tree(str(root))
        self.polling.add(name)
        advice = limit_advice(self.watcher.kind)
        message = (f"{self.watcher.kind} watch limit reached ({exc.strerror}) while watching "
                   f"agent {name}: polling its worktree every {interval:g}s instead; {advice}")
        log.warning("%s", message)
        self._on_limit(name, message, f"Polling agent {name} instead. {advice}")
        self._on_polling(name, True)

    def forget(self, name: str, root: Path) -> None:
        """Stop watching (or polling) an agent."""
        self.watcher.remove_tree(str(root))
        if name in self.polling:
            self.polling.discard(name)
            self._on_polling(name, False)

    def stop_polling_all(self) -> None:
        for name in list(self.polling):
            self._on_polling(name, False)
        self.polling.clear()


def files_in(directory: str, root: str) -> list[str]:
    """Relative paths of the files directly in `directory`."""
    try:
        with os.scandir(directory) as entries:
            return [os.path.relpath(e.path, root).replace(os.sep, "/") for e in entries
                    if not e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
