"""What a running daemon recorded, read as the CLI and the store show it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
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
