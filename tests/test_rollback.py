"""Rollback and undo: restoring checkpoints and pre-rollback states byte-exact."""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitwarden.checkpointing import mark_clean, take_checkpoint
from gitwarden.rollbacks import find_checkpoint, rollback, undo_rollback
from gitwarden.state.db import Store
from gitwarden.workspace import Workspace
from tests.gitrepo import RepoWithAgents, git, make_repo_with_agents, run_gitwarden, write

FILES: dict[str, str | bytes] = {"README.md": "hello\n", "src/app.py": "print('hi')\n",
                                 ".gitignore": "*.log\n"}

State = dict[str, tuple[str, bytes]]


def worktree_state(root: Path) -> State:
    """Every file and symlink under the worktree (ignored ones too), byte for byte."""
    state: State = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".git" in filenames:
            filenames.remove(".git")
        dirnames[:] = [d for d in dirnames if d != ".git"]
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in [*filenames, *links]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                state[rel] = ("link", os.readlink(full).encode())
            else:
                kind = "exec" if os.stat(full).st_mode & 0o100 else "file"
                state[rel] = (kind, Path(full).read_bytes())
    return state


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
                last = next(r for r in reversed(records) if not r.undone)
                now = _Record(worktree_state(alpha), _head(alpha))
                undo_rollback(workspace, store, workspace.agent("alpha"))
                last.undone = True
                records.append(now)
                after = worktree_state(alpha)
                assert _tracked_or_untracked(after) == _tracked_or_untracked(last.before)
                assert _ignored(after) == _ignored(now.before)  # ignored files untouched
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
