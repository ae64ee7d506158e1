"""One writer per checkpoint chain, and no ref lock left behind by a writer that was killed.

Every gitwarden process that moves `refs/gitwarden/checkpoints/<agent>` holds the agent's
chain lock (an flock, released by the kernel when its holder dies) from reading the chain's tip
to moving its ref: a checkpoint that lost the compare-and-swap to another gitwarden process
would be an unreachable commit.

A checkpoint moves its ref through libgit2, inside the process: killed (SIGKILL, the OOM
killer) while libgit2 held `<ref>.lock`, it would leave that file behind, and every later
checkpoint of the agent would be refused until a user removed it. So the holder records in the
chain lock's own file which lock file it created (path, inode, mtime) for as long as it holds
it. The next holder finds the record of a holder that never finished and removes that lock
file, but only if it is the very file recorded and no process has it open: its creator held
the chain lock, so it is gone; a lock file some other git process created is never the file
recorded, and is left to the usual rule (`lockfiles`: stale after a minute, removed by the
user or `doctor --fix`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from gitwarden.errors import GitwardenError
from gitwarden.git import lockfiles
from gitwarden.store.state_locks import state_lock

CHAIN_LOCK_WAIT = 30.0

log = logging.getLogger("gitwarden.checkpoints")


class ChainLock:
    """The held chain lock of one agent; records the ref lock file its holder has created."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def record_ref_lock(self, path: Path) -> None:
        try:
            st = path.stat()
        except OSError:  # not where git keeps it: unrecorded, the minute-old rule applies
            return
        record = json.dumps([os.fsdecode(path), st.st_ino, st.st_mtime_ns]).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, record, 0)

    def clear(self) -> None:
        os.ftruncate(self._fd, 0)

    def remove_ref_lock_left_behind(self) -> Path | None:
        """The ref lock file a killed holder left, removed (None if there was none)."""
        raw = os.pread(self._fd, 65536, 0)
        if not raw:
            return None
        try:
            name, inode, mtime_ns = json.loads(raw)
            path = Path(name)
        except (ValueError, TypeError):
            self.clear()
            return None
        try:
            st = path.stat()
        except OSError:
            self.clear()
            return None
        if (st.st_ino, st.st_mtime_ns) != (inode, mtime_ns) or lockfiles.holders([path]).get(path):
            self.clear()
            return None
        path.unlink(missing_ok=True)
        self.clear()
        log.warning("removed %s, left by a gitwarden process killed while it held it", path)
        return path


@contextlib.contextmanager
def chain_lock(state_dir: Path, agent_name: str) -> Iterator[ChainLock]:
    """Held from reading the tip of an agent's chain to moving its ref."""
    digest = hashlib.sha256(agent_name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    with state_lock(state_dir, f"checkpoint-{digest}", wait=CHAIN_LOCK_WAIT,
                    busy=lambda: GitwardenError(
                        f"another gitwarden process has held the checkpoint chain of "
                        f"{agent_name} for {CHAIN_LOCK_WAIT:g} s; try again")) as fd:
        held = ChainLock(fd)
        held.remove_ref_lock_left_behind()
        yield held
