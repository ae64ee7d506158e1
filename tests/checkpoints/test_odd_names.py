"""File names that are not valid UTF-8: checkpoints, rollback and undo keep them byte-exact."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.gitrepo import git_bytes, make_repo_with_agents, run_gitwarden

BAD = b"bad\xffname.txt"


def _names(worktree: Path) -> set[bytes]:
    return {entry for entry in os.listdir(os.fsencode(worktree)) if entry != b".git"}


def test_checkpoint_and_rollback_with_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["alpha"])
    alpha = repo.agents["alpha"]
    (Path(os.fsdecode(os.fsencode(alpha) + b"/" + BAD))).write_bytes(b"precious\n")
    first = run_gitwarden("checkpoint", "alpha", "--clean", cwd=repo.main)
    assert first.returncode == 0, first.stderr
    tree = git_bytes(repo.main, "ls-tree", "-r", "--name-only", "-z",
                     "refs/gitwarden/checkpoints/alpha")
    assert BAD in tree.split(b"\0")
    before = _names(alpha)
    os.unlink(os.fsencode(alpha) + b"/" + BAD)
    rolled = run_gitwarden("rollback", "alpha", "--yes", cwd=repo.main)
    assert rolled.returncode == 0, rolled.stderr
    assert _names(alpha) == before
    assert (Path(os.fsdecode(os.fsencode(alpha) + b"/" + BAD))).read_bytes() == b"precious\n"
    undo = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
    assert undo.returncode == 0, undo.stderr
    assert BAD not in _names(alpha)
    assert "Traceback" not in first.stderr + rolled.stderr + undo.stderr
