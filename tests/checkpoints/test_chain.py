"""Compare-and-swap of checkpoint refs through libgit2 behaves like `git update-ref NEW OLD`:
the same lock file, the old value checked, lost races reported as RefConflict."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest

from gitwarden.checkpoints.chain import RefConflict, advance_ref_cas, update_ref_cas
from tests.helpers.gitrepo import commit_all, git, make_repo, write

REF = "refs/gitwarden/checkpoints/alpha"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    main = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    write(main, {"b.txt": "b\n"})
    commit_all(main, "second")
    return main


def test_advance_creates_moves_and_refuses_a_stale_old_value(repo: Path) -> None:
    first, second = git(repo, "rev-parse", "HEAD~1", "HEAD").split()
    handle = pygit2.Repository(str(repo))
    advance_ref_cas(handle, REF, first, None, message="gitwarden checkpoint alpha")
    assert git(repo, "rev-parse", REF).strip() == first
    with pytest.raises(RefConflict):
        advance_ref_cas(handle, REF, second, None)  # must not exist: it does
    with pytest.raises(RefConflict):
        advance_ref_cas(handle, REF, second, second)  # expected the wrong value
    advance_ref_cas(handle, REF, second, first)
    assert git(repo, "rev-parse", REF).strip() == second
    update_ref_cas(repo, REF, first, second)  # git and libgit2 take turns on the same ref
    with pytest.raises(RefConflict):
        advance_ref_cas(handle, REF, second, second)
    assert git(repo, "rev-parse", REF).strip() == first


def test_advance_waits_for_nobody_holding_git_s_lock(repo: Path) -> None:
    first, second = git(repo, "rev-parse", "HEAD~1", "HEAD").split()
    handle = pygit2.Repository(str(repo))
    advance_ref_cas(handle, REF, first, None)
    lock = repo / ".git" / f"{REF}.lock"
    lock.write_text("held by a git process\n")
    with pytest.raises(RefConflict):
        advance_ref_cas(handle, REF, second, first)
    assert lock.exists()  # never removes a lock it did not take
    lock.unlink()
    advance_ref_cas(handle, REF, second, first)
    assert not lock.exists()
    proc = subprocess.run(["git", "update-ref", REF, first, second], cwd=repo, check=False)
    assert proc.returncode == 0
