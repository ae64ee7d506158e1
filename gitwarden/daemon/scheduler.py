"""APScheduler 3.11 adapter: in-memory jobs with explicit ids, rebuilt from the config."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("gitwarden.scheduler")

MISFIRE_GRACE = 30


class JobScheduler:
    """Interval jobs that never pile up: coalesce=True, max_instances=1."""

    def __init__(self, workers: int = 2) -> None:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": MISFIRE_GRACE},
            timezone="UTC",
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def every(self, job_id: str, seconds: float, func: Callable[..., Any],
              *args: Any, now: bool = False) -> None:
        """Run func(*args) every `seconds` (replacing a job with the same id); with `now`,
        also right away."""
        first: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if now else {}
        self._scheduler.add_job(_guarded(job_id, func), "interval", args=args,
                                seconds=max(seconds, 0.05), id=job_id, replace_existing=True,
                                **first)

    def remove(self, job_id: str) -> None:
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def job_ids(self) -> set[str]:
        return {job.id for job in self._scheduler.get_jobs()}

    def keep_only(self, wanted: set[str], prefix: str) -> None:
        """Remove the jobs whose id starts with `prefix` and is not in `wanted`."""
        for job_id in self.job_ids():
            if job_id.startswith(prefix) and job_id not in wanted:
                self.remove(job_id)


def _guarded(job_id: str, func: Callable[..., Any]) -> Callable[..., None]:
    def run(*args: Any) -> None:
        try:
            func(*args)
        except Exception:
            log.exception("job %s failed", job_id)

    return run
