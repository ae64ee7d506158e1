"""What the daemon holds in memory, counted: every map is bounded by the agents, their changed
paths, their directories or a fixed cap; the daemon's `status` reply (control socket) carries
the counts (and libgit2's memory limits as the daemon set them), and the soak benchmark
prints them, so that a leak would be seen."""

from __future__ import annotations

from typing import Any

from gitwarden.daemon.heap import heap_sizes
from gitwarden.daemon.jobs import Jobs
from gitwarden.daemon.pending import PendingPaths
from gitwarden.git.objects import libgit2_cached_bytes, libgit2_limits
from gitwarden.overlaps.recorder import OverlapRecorder
from gitwarden.overlaps.tracker import ChangeTracker


def memory_sizes(tracker: ChangeTracker, overlaps: OverlapRecorder | None, jobs: Jobs,
                 pending: PendingPaths, **counts: int) -> dict[str, int]:
    sizes = {**counts, "pending": pending.size(), "libgit2_cache_bytes": libgit2_cached_bytes(),
             **tracker.memory_sizes(), **jobs.memory_sizes(), **libgit2_limits()}
    if overlaps is not None:
        sizes.update(overlaps.memory_sizes())
    return sizes


def with_heap_sizes(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A copy of the pipeline's `snapshot` whose memory counts have malloc's figures as they
    are now: read when asked, not with every snapshot (several a second when agents are busy),
    since glibc's `malloc_info` walks every arena under its lock and writes a report."""
    if "memory" not in snapshot:
        return dict(snapshot)
    return {**snapshot, "memory": {**snapshot["memory"], **heap_sizes()}}
