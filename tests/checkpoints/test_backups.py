"""Retention of backup refs and the stash: count and age, never what an undo still needs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.backups import backup_groups, prune_backups, prune_saved
from gitwarden.checkpoints.stash import stash_dir
from gitwarden.store.db import Store
from tests.helpers.gitrepo import make_repo_with_agents, run_gitwarden, write


def _rollbacks(tmp_path: Path, count: int) -> tuple[Path, Path]:
    repo = make_repo_with_agents(tmp_path / "r", ["a"], files={"README.md": "r\n"})
    a = repo.agents["a"]
    (repo.main / "gitwarden.toml").write_text("[checkpoints]\nkeep_backups = 2\n")
    write(a, {"big.bin": "small at the checkpoint\n"})
    cp = run_gitwarden("checkpoint", "a", "--clean", cwd=repo.main)
    assert cp.returncode == 0, cp.stderr
    for i in range(count):
        write(a, {"f.txt": f"{i}\n", "big.bin": os.urandom(1_200_000), ".gitignore": "x\n"})
        done = run_gitwarden("rollback", "a", "--yes", "--include-untracked-large",
                             cwd=repo.main)
        assert done.returncode == 0, done.stderr
    return repo.main, a


def test_backups_beyond_the_count_go_once_no_undo_needs_them(tmp_path: Path) -> None:
    main, _a = _rollbacks(tmp_path, 4)
    groups = backup_groups(main, "a")
    assert len(groups) == 4
    dry = run_gitwarden("prune", "--dry-run", "--json", cwd=main)
    row = json.loads(dry.stdout)["agents"][0]
    assert row["backups_dropped"] == 0  # every rollback can still be undone
    assert run_gitwarden("rollback", "a", "--undo", "--all", "--yes", cwd=main).returncode == 0
    assert len(backup_groups(main, "a")) == 8  # each undo saved the state it left
    proc = run_gitwarden("prune", "--json", cwd=main)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)["agents"][0]
    assert (row["backups_kept"], row["backups_dropped"]) == (2, 6)
    assert len(backup_groups(main, "a")) == 2


def test_age_limit_and_the_stash_are_pruned(tmp_path: Path) -> None:
    main, _a = _rollbacks(tmp_path, 2)
    workspace = Workspace.load(main)
    assert run_gitwarden("rollback", "a", "--undo", "--all", "--yes", cwd=main).returncode == 0
    objects = stash_dir(workspace.repo.state_dir)
    assert len(list(objects.iterdir())) >= 2
    later = time.time() + 40 * 86400
    with Store.open(workspace.repo) as store:
        assert prune_backups(workspace, store, "a", now=later) == (0, 4)
        dropped, freed = prune_saved(workspace, store, now=later)
    assert dropped == 0 and freed >= 2 * 1_200_000
    assert list(objects.iterdir()) == []
