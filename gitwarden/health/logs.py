"""Health log retention (`[health] keep_logs`): the newest `count` logs are kept, none older
than `age`; a log that a current verdict points at (what `gitwarden health` shows) is always
kept. Applied by the daemon's prune job and by `gitwarden prune`."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from gitwarden.git.repository import Repo
from gitwarden.health import table as health_state
from gitwarden.health.runner import LOG_DIR
from gitwarden.store.db import Store


@dataclass(frozen=True)
class LogPrune:
    kept: int
    dropped: tuple[Path, ...]


def prune_logs(repo: Repo, store: Store, *, keep: int, max_age: float,
               now: float | None = None, dry_run: bool = False) -> LogPrune:
    """Delete the health logs beyond the newest `keep` or older than `max_age` seconds."""
    folder = repo.state_dir / LOG_DIR
    if not folder.is_dir():
        return LogPrune(kept=0, dropped=())
    moment = time.time() if now is None else now
    logs: list[tuple[float, Path]] = []
    for path in folder.glob("*.log"):
        with contextlib.suppress(FileNotFoundError):
            logs.append((path.stat().st_mtime, path))
    logs.sort(key=lambda item: (item[0], item[1].name), reverse=True)
    shown = {Path(v.log_path) for v in health_state.latest_verdicts(store) if v.log_path}
    dropped = [path for rank, (mtime, path) in enumerate(logs)
               if (rank >= keep or moment - mtime > max_age) and path not in shown]
    if not dry_run:
        for path in dropped:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return LogPrune(kept=len(logs) - len(dropped), dropped=tuple(dropped))
