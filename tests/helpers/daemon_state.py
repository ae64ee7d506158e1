"""What a running daemon recorded, read as the CLI and the store show it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import (
    run_gitwarden,
)

BASE = "".join(f"line {i}\n" for i in range(1, 31))


FAST = "[watch]\ndebounce = \"50ms\"\n"


def conflicts_json(cwd: Path) -> dict[str, Any]:
    proc = run_gitwarden("conflicts", "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def events_of(main: Path, kind: str) -> list[Any]:
    with Store.open(locate_repo(main)) as store:
        return list_events(store, kinds=[kind])


def wait_for_start_checkpoints(daemon: DaemonProcess, agents: Iterable[str]) -> None:
    """Until the daemon's checkpoints of `agents` at start are in: a change made after this
    is not in them."""
    wanted = set(agents)
    wait_until(lambda: wanted <= {e.agent for e in events_of(daemon.main, "checkpoint.created")},
               30, "no checkpoints at start", daemon)
