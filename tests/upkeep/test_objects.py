"""Tidying the object store on a real repository: the quarantine directories of processes
that no longer run are swept (a killed daemon leaves its prediction's objects behind)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.git.quarantine import quarantine_root
from gitwarden.upkeep.objects import tidy_objects
from tests.helpers.gitrepo import make_repo_with_agents


def test_quarantines_of_dead_processes_are_swept_with_the_repack(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    workspace = Workspace.load(repo.main)
    root = quarantine_root(workspace.repo.common_dir)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = root / f"{dead}-xyz" / "ab"
    left.mkdir(parents=True)
    (left / "cdef").write_bytes(b"a blob a killed prediction wrote")
    live = root / f"{os.getpid()}-uvw"
    live.mkdir()
    tidy_objects(workspace.repo, workspace.config, dry_run=True)
    assert left.exists()  # a dry run removes nothing
    tidy_objects(workspace.repo, workspace.config, force=True)
    assert sorted(p.name for p in root.iterdir()) == [live.name]
