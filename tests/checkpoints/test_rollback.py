"""Rollback and undo: restoring checkpoints and pre-rollback states byte-exact."""

from __future__ import annotations

import itertools
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.rollback import find_checkpoint, rollback, undo_rollback
from gitwarden.checkpoints.take import mark_clean, take_checkpoint
from gitwarden.store.db import Store
from tests.helpers.gitrepo import (
    RepoWithAgents,
    git,
    make_nested_repo,
    make_repo_with_agents,
    run_gitwarden,
    run_python,
    write,
)
from tests.helpers.worktree_state import State, worktree_state

FILES: dict[str, str | bytes] = {"README.md": "hello\n", "src/app.py": "print('hi')\n",
                                 ".gitignore": "*.log\n"}


@pytest.fixture
def repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path / "r", ["alpha"], files=FILES)


def test_rollback_restores_checkpoint_and_undo_restores_before(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    write(alpha, {"src/app.py": "print('good')\n", "notes.txt": "uncommitted\n"})
    git(alpha, "add", "src/app.py")
    git(alpha, "commit", "-qm", "good")
    good_head = git(alpha, "rev-parse", "HEAD").strip()
    write(alpha, {"wip.txt": "wip at checkpoint\n"})
    good = take_checkpoint(workspace, "alpha", clean=True)
    good_state = worktree_state(alpha)
    # The agent goes on and breaks things: commits, edits, deletes, new files, ignored files.
    write(alpha, {"src/app.py": "broken(\n", "junk/new.py": "junk\n"})
    git(alpha, "commit", "-qam", "broken")
    (alpha / "README.md").unlink()
    write(alpha, {"wip.txt": "changed\n", "cache.log": "ignored stays\n"})
    os.symlink("README.md", alpha / "link")
    broken_state = worktree_state(alpha)
    broken_head = git(alpha, "rev-parse", "HEAD").strip()

    dry = run_gitwarden("rollback", "alpha", "--dry-run", cwd=repo.main)
    assert dry.returncode == 0, dry.stderr
    assert "delete junk/new.py" in dry.stdout and "restore README.md" in dry.stdout
    assert "cache.log" not in dry.stdout
    assert worktree_state(alpha) == broken_state
    refused = run_gitwarden("rollback", "alpha", cwd=repo.main)  # stdin is not a TTY
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert worktree_state(alpha) == broken_state

    proc = run_gitwarden("rollback", "alpha", "--yes", "--json", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["target"] == good.commit and data["backup_ref"].startswith("refs/gitwarden/")
    expected = dict(good_state, **{"cache.log": ("file", b"ignored stays\n")})
    assert worktree_state(alpha) == expected
    assert git(alpha, "rev-parse", "HEAD").strip() == good_head
    assert git(alpha, "symbolic-ref", "HEAD").strip() == "refs/heads/alpha"
    status = git(alpha, "status", "--porcelain", "--untracked-files=all")
    assert sorted(status.splitlines()) == ["?? notes.txt", "?? wip.txt"]
    assert git(alpha, "rev-parse", data["backup_ref"]).strip() == broken_head

    undo = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
    assert undo.returncode == 0, undo.stderr
    assert worktree_state(alpha) == broken_state
    assert git(alpha, "rev-parse", "HEAD").strip() == broken_head


def test_rollback_refuses_mid_merge(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    take_checkpoint(workspace, "alpha", clean=True)
    write(alpha, {"README.md": "ours\n"})
    git(alpha, "commit", "-qam", "ours")
    write(repo.main, {"README.md": "theirs\n"})
    git(repo.main, "commit", "-qam", "theirs")
    git(alpha, "merge", "main", check=False)
    before = worktree_state(alpha)
    proc = run_gitwarden("rollback", "alpha", "--yes", cwd=repo.main)
    assert proc.returncode == 1 and "middle of a merge" in proc.stderr
    assert worktree_state(alpha) == before


def test_rollback_to_named_checkpoint_moves_detached_head(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    write(alpha, {"a.txt": "a\n"})
    first = take_checkpoint(workspace, "alpha")
    first_state = worktree_state(alpha)
    git(alpha, "checkout", "-q", "--detach")
    write(alpha, {"a.txt": "b\n"})
    git(alpha, "add", "-A")
    git(alpha, "commit", "-qm", "b")
    assert first.commit
    proc = run_gitwarden("rollback", "alpha", "--to", first.commit[:8], "--yes", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert worktree_state(alpha) == first_state
    assert git(alpha, "rev-parse", "HEAD").strip() == git(repo.main, "rev-parse", "main").strip()


# --- property test --------------------------------------------------------------------------

PATHS = ["a.txt", "d/b.txt", "d/e/c.txt", "run.sh", "e/x.log"]
CONTENTS = [b"", b"one\n", b"two\nlines\n", b"\x00\xffbinary", "ünï\n".encode()]

_write = st.tuples(st.just("write"), st.sampled_from(PATHS), st.sampled_from(CONTENTS),
                   st.booleans())
_rollback = st.tuples(st.just("rollback"), st.integers(0, 20))
_undo = st.tuples(st.just("undo"))
# Rollbacks and undos are weighted up so that most examples exercise them.
op = st.one_of(_write, _write, st.tuples(st.just("delete"), st.sampled_from(PATHS)),
               st.tuples(st.just("commit")), st.tuples(st.just("checkpoint")),
               _rollback, _rollback, _undo, _undo)


@dataclass
class _Record:
    before: State
    before_head: str
    undone: bool = False


_counter = itertools.count()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=3, max_size=10))
def test_every_checkpoint_and_pre_rollback_state_is_restorable(
        tmp_path: Path, ops: list[tuple[object, ...]]) -> None:
    repo = make_repo_with_agents(tmp_path / f"p{next(_counter)}", ["alpha"], files=FILES)
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    checkpoints: list[tuple[str, State, str]] = []
    records: list[_Record] = []
    with Store.open(workspace.repo) as store:
        for step in [("checkpoint",), *ops]:
            kind = step[0]
            if kind == "write":
                _, path, content, executable = step
                target = alpha / str(path)
                if target.is_symlink() or target.exists():
                    target.unlink()
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)  # type: ignore[arg-type]
                target.chmod(0o755 if executable else 0o644)
            elif kind == "delete":
                (alpha / str(step[1])).unlink(missing_ok=True)
            elif kind == "commit":
                git(alpha, "add", "-A")
                git(alpha, "commit", "-qm", "step", "--allow-empty")
            elif kind == "checkpoint":
                result = take_checkpoint(workspace, "alpha")
                assert result.commit
                checkpoints.append((result.commit, worktree_state(alpha), _head(alpha)))
            elif kind == "rollback" and checkpoints:
                commit, state, head = checkpoints[int(step[1]) % len(checkpoints)]  # type: ignore[call-overload]
                records.append(_Record(worktree_state(alpha), _head(alpha)))
                target = find_checkpoint(workspace, store, workspace.agent("alpha"), commit)
                rollback(workspace, store, "alpha", target)
                assert _tracked_or_untracked(worktree_state(alpha)) == \
                    _tracked_or_untracked(state)
                assert _ignored(worktree_state(alpha)) == _ignored(records[-1].before)
                assert _head(alpha) == head
            elif kind == "undo" and any(not r.undone for r in records):
                # The undo stack: the newest rollback not undone goes back first.
                last = next(r for r in reversed(records) if not r.undone)
                now = worktree_state(alpha)
                undo_rollback(workspace, store, workspace.agent("alpha"))
                last.undone = True
                after = worktree_state(alpha)
                assert _tracked_or_untracked(after) == _tracked_or_untracked(last.before)
                assert _ignored(after) == _ignored(now)  # ignored files untouched
                assert _head(alpha) == last.before_head


def _head(worktree: Path) -> str:
    return git(worktree, "rev-parse", "HEAD").strip()


def _ignored(state: State) -> State:
    return {k: v for k, v in state.items() if k.endswith(".log")}


def _tracked_or_untracked(state: State) -> State:
    return {k: v for k, v in state.items() if not k.endswith(".log")}


def test_clean_checkpoint_is_the_default_target(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    write(alpha, {"a.txt": "1\n"})
    clean = take_checkpoint(workspace, "alpha")
    write(alpha, {"a.txt": "2\n"})
    take_checkpoint(workspace, "alpha")
    assert clean.commit
    mark_clean(workspace, "alpha", clean.commit)
    with Store.open(workspace.repo) as store:
        assert find_checkpoint(workspace, store, workspace.agent("alpha"), None).commit == \
            clean.commit


# --- clean commits marked by health checks ---------------------------------------------------

def _commit_good_and_mark_clean(repo: RepoWithAgents) -> tuple[Workspace, str]:
    """Commit a good change and mark that commit clean the way the health code does."""
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    write(alpha, {"src/app.py": "print('good')\n"})
    git(alpha, "commit", "-qam", "good")
    good_head = _head(alpha)
    mark_clean(workspace, "alpha", good_head, source="health")
    return workspace, good_head


def _break(alpha: Path) -> None:
    write(alpha, {"src/app.py": "broken(\n", "junk.py": "junk\n"})
    git(alpha, "commit", "-qam", "broken")
    write(alpha, {"README.md": "scribbled\n", "cache.log": "ignored stays\n"})


def test_checkpoint_at_a_clean_commit_is_clean_and_the_default_target(
        repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace, good_head = _commit_good_and_mark_clean(repo)
    good = take_checkpoint(workspace, "alpha")
    good_state = worktree_state(alpha)
    listed = run_gitwarden("checkpoints", "alpha", "--json", cwd=repo.main)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    rows = rows.get("checkpoints", rows) if isinstance(rows, dict) else rows
    assert [(r["id"], r["clean"]) for r in rows] == [(good.commit, True)]
    _break(alpha)
    take_checkpoint(workspace, "alpha")  # a newer, broken checkpoint: not clean

    proc = run_gitwarden("rollback", "alpha", "--yes", "--json", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["target"] == good.commit
    assert worktree_state(alpha) == dict(good_state, **{"cache.log": ("file", b"ignored stays\n")})
    assert _head(alpha) == good_head
    assert git(alpha, "status", "--porcelain").strip() == ""


def test_clean_commit_without_a_checkpoint_is_restored(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace, good_head = _commit_good_and_mark_clean(repo)
    good_state = worktree_state(alpha)
    take_checkpoint(workspace, "alpha", message="old")  # clean only by its tree
    _break(alpha)
    bad = take_checkpoint(workspace, "alpha")
    assert bad.status == "created"
    # Drop the clean checkpoint from view: only the commit mark remains.
    git(alpha, "update-ref", "-d", "refs/gitwarden/checkpoints/alpha")
    take_checkpoint(workspace, "alpha")
    dry = run_gitwarden("rollback", "alpha", "--dry-run", cwd=repo.main)
    assert dry.returncode == 0, dry.stderr
    assert "delete junk.py" in dry.stdout and "overwrite README.md" in dry.stdout
    assert f"to clean commit {good_head[:10]}" in dry.stdout
    proc = run_gitwarden("rollback", "alpha", "--yes", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert worktree_state(alpha) == dict(good_state, **{"cache.log": ("file", b"ignored stays\n")})
    assert _head(alpha) == good_head
    assert git(alpha, "symbolic-ref", "HEAD").strip() == "refs/heads/alpha"
    assert git(alpha, "status", "--porcelain").strip() == ""


def test_rollback_to_a_clean_branch_commit(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    _workspace, good_head = _commit_good_and_mark_clean(repo)
    good_state = worktree_state(alpha)
    _break(alpha)
    proc = run_gitwarden("rollback", "alpha", "--to", good_head[:10], "--yes", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert _head(alpha) == good_head
    assert worktree_state(alpha) == dict(good_state, **{"cache.log": ("file", b"ignored stays\n")})
    unmarked = git(repo.main, "rev-parse", "main").strip()
    refused = run_gitwarden("rollback", "alpha", "--to", unmarked, "--yes", cwd=repo.main)
    assert refused.returncode == 2 and "not a checkpoint" in refused.stderr
    assert "Traceback" not in refused.stderr


# --- the index survives rollback + undo -----------------------------------------------------

def test_undo_restores_an_index_that_differs_from_head_and_files(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    take_checkpoint(workspace, "alpha", clean=True)
    write(alpha, {"src/app.py": "staged version\n", "new.txt": "staged new\n"})
    git(alpha, "add", "src/app.py", "new.txt")
    write(alpha, {"src/app.py": "worktree version\n", "new.txt": "worktree new\n"})
    git(alpha, "rm", "-q", "--cached", "README.md")
    staged = git(alpha, "ls-files", "-s")
    before = worktree_state(alpha)
    index_blob = git(alpha, "rev-parse", ":src/app.py").strip()
    assert git(alpha, "cat-file", "-p", index_blob) == "staged version\n"

    proc = run_gitwarden("rollback", "alpha", "--yes", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert git(alpha, "ls-files", "-s") != staged
    # The staged content is reachable from a backup ref (gc keeps it).
    reachable = git(alpha, "rev-list", "--objects", "--glob=refs/gitwarden/backups/*")
    assert index_blob in reachable

    undo = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
    assert undo.returncode == 0, undo.stderr
    assert git(alpha, "ls-files", "-s") == staged
    assert worktree_state(alpha) == before
    assert git(alpha, "cat-file", "-p", index_blob) == "staged version\n"


# --- nested repositories ----------------------------------------------------------------------

def test_dry_run_keeps_an_untracked_nested_repository_like_rollback(
        repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    take_checkpoint(workspace, "alpha", clean=True)
    nested = make_nested_repo(alpha / "vendor" / "nested")
    write(alpha, {"junk.py": "junk\n"})

    dry = run_gitwarden("rollback", "alpha", "--dry-run", cwd=repo.main)
    assert dry.returncode == 0, dry.stderr
    assert "delete junk.py" in dry.stdout
    assert "delete vendor/nested" not in dry.stdout
    assert "keep nested repository vendor/nested" in dry.stdout
    dry_json = json.loads(run_gitwarden("rollback", "alpha", "--dry-run", "--json",
                                        cwd=repo.main).stdout)
    assert dry_json["delete"] == ["junk.py"] and dry_json["keep_nested"] == ["vendor/nested"]

    proc = run_gitwarden("rollback", "alpha", "--yes", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert not (alpha / "junk.py").exists()
    assert (nested / "inner.txt").read_text() == "inner\n"
    assert git(nested, "log", "--format=%s").strip() == "inner"


# --- the undo stack (issue 11 case 4) ---------------------------------------------------------

def _two_rollbacks(repo: RepoWithAgents) -> tuple[State, str, str, State]:
    """Original state -> rollback to c1 -> edits -> rollback to c2; returns the original
    state, its HEAD, its staged index and the state right after the first rollback."""
    alpha = repo.agents["alpha"]
    write(alpha, {"a.txt": "c1\n"})
    c1 = run_gitwarden("checkpoint", "alpha", cwd=repo.main).stdout.split(": ")[1].split()[0]
    write(alpha, {"a.txt": "c2\n", "b.txt": "b\n"})
    git(alpha, "add", "-A")
    git(alpha, "commit", "-qm", "c2")
    c2 = run_gitwarden("checkpoint", "alpha", cwd=repo.main).stdout.split(": ")[1].split()[0]
    write(alpha, {"a.txt": "original\n", "src/app.py": "staged\n", "cache.log": "ignored\n"})
    git(alpha, "add", "src/app.py")
    original, head, staged = worktree_state(alpha), _head(alpha), git(alpha, "ls-files", "-s")
    assert run_gitwarden("rollback", "alpha", "--to", c1, "--yes", cwd=repo.main).returncode == 0
    write(alpha, {"after-first.txt": "made between the rollbacks\n"})
    between = worktree_state(alpha)
    assert run_gitwarden("rollback", "alpha", "--to", c2, "--yes", cwd=repo.main).returncode == 0
    return original, head, staged, between


def test_two_rollbacks_then_undo_all_give_the_original_byte_exact(
        repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    original, head, staged, _between = _two_rollbacks(repo)
    history = run_gitwarden("rollback", "alpha", "--history", "--json", cwd=repo.main)
    rows = json.loads(history.stdout)["history"]
    assert [(r["kind"], r["phase"], r["undone"]) for r in rows] == \
        [("rollback", "done", False), ("rollback", "done", False)]
    undo = run_gitwarden("rollback", "alpha", "--undo", "--all", "--yes", cwd=repo.main)
    assert undo.returncode == 0, undo.stderr
    assert worktree_state(alpha) == original
    assert _head(alpha) == head and git(alpha, "ls-files", "-s") == staged
    again = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
    assert again.returncode == 2 and "no rollback to undo" in again.stderr
    assert worktree_state(alpha) == original


def test_undo_steps_back_one_rollback_at_a_time(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    original, head, _staged, between = _two_rollbacks(repo)
    assert run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main).returncode == 0
    assert worktree_state(alpha) == between
    assert run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main).returncode == 0
    assert worktree_state(alpha) == original and _head(alpha) == head


KILL_IN_UNDO = r"""
import os, signal, sys
import gitwarden.checkpoints.moves as moves
real = moves.write_paths
def killed(*args, **kwargs):
    real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
moves.write_paths = killed
from gitwarden.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_an_interrupted_undo_completes_and_never_flips(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    original, head, _staged, between = _two_rollbacks(repo)
    killed = run_python(KILL_IN_UNDO, "rollback", "alpha", "--undo", "--yes", cwd=repo.main)
    assert killed.returncode == -signal.SIGKILL
    for _ in range(2):  # recovering twice is the same as once
        proc = run_gitwarden("rollback", "alpha", "--recover", cwd=repo.main)
        assert proc.returncode == 0, proc.stderr
        assert worktree_state(alpha) == between
    assert run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main).returncode == 0
    assert worktree_state(alpha) == original and _head(alpha) == head
