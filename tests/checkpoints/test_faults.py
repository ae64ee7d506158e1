"""Checkpoint and rollback processes killed at random points; an agent busy beside them."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.take import take_checkpoint
from gitwarden.coordination import pauses
from gitwarden.store.db import Store
from tests.helpers.gitrepo import (
    git,
    make_repo_with_agents,
    run_gitwarden,
    run_python,
    spawn_gitwarden,
    write,
)
from tests.helpers.worktree_state import worktree_state

# 52 kill points by default, in four repositories side by side (most of a trial is waiting:
# on the kill, on the killed command's git children); GITWARDEN_TEST_KILL_TRIALS=N runs N per
# repository (a longer soak).
TRIALS_PER_REPO = int(os.environ.get("GITWARDEN_TEST_KILL_TRIALS", "13"))
REPOS = 4


def baseline_tree(worktree: Path, scratch: Path) -> str:
    """The worktree as `git add -A` into a copy of the index sees it, contents compared.

    A plain copy of the index gets a new mtime, which disarms git's racy-git check: git compares
    whole seconds of file times, so a file rewritten with the same size within the second its
    index entry was recorded would count as unchanged and the tree would show stale content.
    Dating the copy before every entry makes git compare the contents of every file.
    """
    git_dir = Path(git(worktree, "rev-parse", "--absolute-git-dir").strip())
    temp_index = scratch / f"idx-{random.random()}"
    shutil.copyfile(git_dir / "index", temp_index)
    os.utime(temp_index, (1, 1))
    env = {"GIT_INDEX_FILE": str(temp_index)}
    git(worktree, "add", "-A", env=env)
    tree = git(worktree, "write-tree", env=env).strip()
    temp_index.unlink()
    return tree


def saved_trees(worktree: Path) -> set[str]:
    """Trees of every checkpoint and every backup of the worktree state."""
    refs = git(worktree, "for-each-ref", "--format=%(refname)", "refs/gitwarden/").split()
    trees: set[str] = set()
    for ref in refs:
        if ref.startswith("refs/gitwarden/checkpoints/"):
            out = git(worktree, "log", "--first-parent", "--format=%T", ref)
            trees.update(out.split())
        elif ref.endswith("-worktree"):
            trees.add(git(worktree, "rev-parse", f"{ref}^{{tree}}").strip())
    return trees


def chain(worktree: Path) -> list[str]:
    proc = subprocess.run(["git", "rev-list", "--first-parent",
                           "refs/gitwarden/checkpoints/alpha", "--"], cwd=worktree,
                          capture_output=True, text=True, check=False)
    return proc.stdout.split() if proc.returncode == 0 else []


def wait_for_group(pgid: int, timeout: float = 30.0) -> None:
    """Wait until every process of the group has exited (git children outlive a killed parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError(f"processes of group {pgid} still running after {timeout}s")


def head(worktree: Path) -> str:
    return git(worktree, "rev-parse", "HEAD").strip()


def _kill_trials(root: Path, seed: int, failures: list[str]) -> None:
    rng = random.Random(seed)
    repo = make_repo_with_agents(root, ["alpha"], files={
        "README.md": "r\n", **{f"src/m{i}.py": f"x = {i}\n" for i in range(40)}})
    alpha = repo.agents["alpha"]
    scratch = root / "scratch"
    scratch.mkdir()
    known: list[str] = []
    ok = run_gitwarden("checkpoint", "alpha", "--clean", cwd=repo.main)
    assert ok.returncode == 0, ok.stderr
    for trial in range(TRIALS_PER_REPO):
        for i in rng.sample(range(40), 5):
            write(alpha, {f"src/m{i}.py": f"x = {trial}\n", f"new/t{trial}.txt": "n\n"})
        if rng.random() < 0.3:
            git(alpha, "add", "-A")
            git(alpha, "commit", "-qm", f"t{trial}")
        before = baseline_tree(alpha, scratch)
        head_before = head(alpha)
        rolling = rng.random() < 0.5
        args = ["rollback", "alpha", "--yes"] if rolling else ["checkpoint", "alpha"]
        proc = spawn_gitwarden(*args, cwd=repo.main, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
        # A fresh interpreter spends its first ~0.1 s starting up; one forked from the
        # pre-imported server starts the command's work at once: kill within the work either way.
        fresh = isinstance(proc, subprocess.Popen)
        time.sleep(rng.uniform(0.05, 0.35) if fresh else rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_for_group(proc.pid)  # git children the dead process started run to their end
        label = f"{root.name} trial {trial} ({args[0]})"
        # The agent's index is intact and no lock is left behind.
        status = subprocess.run(["git", "status", "--porcelain"], cwd=alpha,
                                capture_output=True, text=True, check=False)
        if status.returncode != 0:
            failures.append(f"{label}: git status failed: {status.stderr}")
        git_dir = Path(git(alpha, "rev-parse", "--absolute-git-dir").strip())
        if (git_dir / "index.lock").exists():
            failures.append(f"{label}: index.lock left behind")
        # Refs are never corrupt and no checkpoint is lost.
        fsck = subprocess.run(["git", "fsck", "--connectivity-only", "--no-dangling"],
                              cwd=repo.main, capture_output=True, text=True, check=False)
        if fsck.returncode != 0:
            failures.append(f"{label}: fsck: {fsck.stderr.strip()}")
        current = chain(alpha)
        if not set(known) <= set(current):
            failures.append(f"{label}: checkpoints lost")
        # The state before the killed command is still there or saved.
        touched = baseline_tree(alpha, scratch) != before or head(alpha) != head_before
        if touched and before not in saved_trees(alpha):
            failures.append(f"{label}: the pre-command state was lost")
        # The next command finishes or rolls back a killed rollback: old state or new one.
        if rolling:
            recover = run_gitwarden("rollback", "alpha", "--recover", cwd=repo.main)
            if recover.returncode != 0:
                failures.append(f"{label}: recover failed: {recover.stderr.strip()}")
            if baseline_tree(alpha, scratch) != before or head(alpha) != head_before:
                # it completed: one undo gives the pre-rollback state back
                undo = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
                if undo.returncode != 0:
                    failures.append(f"{label}: undo failed: {undo.stderr.strip()}")
                elif baseline_tree(alpha, scratch) != before or head(alpha) != head_before:
                    failures.append(f"{label}: undo did not restore the pre-rollback state")
        # The next command recovers.
        again = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
        if again.returncode != 0:
            failures.append(f"{label}: next checkpoint failed: {again.stderr.strip()}")
        known = chain(alpha)


def test_sigkill_at_random_points_loses_nothing(tmp_path: Path) -> None:
    failures: list[str] = []
    threads = [threading.Thread(target=_kill_trials, args=(tmp_path / f"r{n}", n, failures))
               for n in range(REPOS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert REPOS * TRIALS_PER_REPO >= 50, "at least 50 kill points"
    assert failures == []


# Runs gitwarden with one step of the rollback replaced by SIGKILL of the process itself.
KILLED_AT = r"""
import os, signal, sys
import gitwarden.checkpoints.moves as moves
import gitwarden.checkpoints.transaction as transaction
module = transaction if hasattr(transaction, sys.argv[1]) and sys.argv[1].startswith("_") \
    else moves
real = getattr(module, sys.argv[1])
def killed(*args, **kwargs):
    if sys.argv[2] == "after":
        real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
setattr(module, sys.argv[1], killed)
from gitwarden.cli import main
sys.exit(main(sys.argv[3:]))
"""

STEPS = [(step, when) for step in ("_save", "swap_branch", "write_index", "clear_unheld",
                                   "delete_paths", "write_paths", "restore_stashed",
                                   "refresh_index")
         for when in ("before", "after")]


@pytest.mark.parametrize(("step", "when"), STEPS)
def test_rollback_killed_at_every_step_leaves_old_or_new_state(tmp_path: Path, step: str,
                                                                when: str) -> None:
    repo = make_repo_with_agents(tmp_path / "r", ["alpha"],
                                 files={"a.txt": "a0\n", "b.txt": "b0\n", "gone.txt": "g\n",
                                        ".gitignore": "*.env\n"})
    alpha = repo.agents["alpha"]
    assert run_gitwarden("checkpoint", "alpha", "--clean", cwd=repo.main).returncode == 0
    clean_state = worktree_state(alpha)
    clean_head = head(alpha)
    write(alpha, {"a.txt": "a1\n", "new.txt": "new\n"})
    git(alpha, "commit", "-qam", "a1")
    write(alpha, {"b.txt": "b1 uncommitted\n", "untracked/u.txt": "u\n", "x.env": "secret\n",
                  "big.bin": b"\1" * (2 * 1024 * 1024)})
    (alpha / "gone.txt").unlink()
    git(alpha, "add", "b.txt")
    before, head_before = worktree_state(alpha), head(alpha)
    staged_before = git(alpha, "ls-files", "-s")

    killed = run_python(KILLED_AT, step, when, "rollback", "alpha", "--yes", cwd=repo.main)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    nxt = run_gitwarden("checkpoint", "alpha", cwd=repo.main)  # any next command recovers
    assert nxt.returncode == 0, nxt.stderr
    after = worktree_state(alpha)
    if after == before:
        assert head(alpha) == head_before
        assert git(alpha, "ls-files", "-s") == staged_before
    else:  # the rollback completed (killed after its last step): the new state, exactly
        expected = dict(clean_state, **{"x.env": ("file", b"secret\n"),
                                        "big.bin": before["big.bin"]})
        assert after == expected
        assert head(alpha) == clean_head
        undo = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
        assert undo.returncode == 0, undo.stderr
        assert worktree_state(alpha) == before and head(alpha) == head_before
    assert git(alpha, "symbolic-ref", "HEAD").strip() == "refs/heads/alpha"
    workspace = Workspace.load(repo.main)
    with Store.open(workspace.repo) as store:
        assert not pauses.is_paused(store, "alpha")  # resumed: it was not paused before
    state_dir = Path(git(repo.main, "rev-parse", "--git-common-dir").strip())
    leftovers = list((repo.main / state_dir / "gitwarden" / "tmp").glob("rollback-index-*"))
    assert leftovers == []


AGENT_LOOP = r"""
set -e
for i in $(seq 1 20); do
  echo "$i" >> "f$((i % 3)).txt"
  git add -A
  git commit -q -m "c$i"
  git checkout -q -b "b$i"
  echo "stash $i" >> f0.txt
  git stash -q
  git stash pop -q
  git status --porcelain > /dev/null
done
"""


def test_agent_git_loop_never_sees_index_lock_from_checkpoints(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path / "r", ["alpha"], files={"f0.txt": "0\n"})
    alpha = repo.agents["alpha"]
    env = {k: v for k, v in os.environ.items() if k != "GIT_OPTIONAL_LOCKS"}
    agent = subprocess.Popen(["bash", "-c", AGENT_LOOP], cwd=alpha, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workspace = Workspace.load(repo.main)
    taken = 0
    index_file = Path(git(alpha, "rev-parse", "--absolute-git-dir").strip()) / "index"
    while agent.poll() is None:
        result = take_checkpoint(workspace, "alpha")
        assert result.status in ("created", "unchanged", "skipped"), result
        taken += result.status == "created"
        changed = take_checkpoint(workspace, "alpha", changed_paths=["f0.txt", "f1.txt"])
        taken += changed.status == "created"
    _, stderr = agent.communicate()
    assert agent.returncode == 0, stderr
    assert "index.lock" not in stderr
    assert taken >= 3
    assert index_file.exists()
    final = take_checkpoint(workspace, "alpha")
    assert final.commit is not None
    assert git(alpha, "rev-parse", f"{final.commit}^{{tree}}").strip() == \
        baseline_tree(alpha, tmp_path)
