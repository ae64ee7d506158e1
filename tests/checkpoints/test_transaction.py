"""Rollback as a transaction: unheld files kept or stashed, failures put back, commits racing
a rollback never dropped, a writer never loses a line (issue 11 cases 1, 3, 5)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import moves, transaction
from gitwarden.checkpoints.rollback import find_checkpoint, rollback
from gitwarden.coordination import pauses
from gitwarden.coordination.processes import process_start_time
from gitwarden.errors import GitwardenError
from gitwarden.store.db import Store
from tests.helpers.gitrepo import (
    RepoWithAgents,
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)
from tests.helpers.worktree_state import worktree_state

BIG = os.urandom(3_000_000)


@pytest.fixture
def repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path / "r", ["a"], files={"README.md": "r\n"})


def _checkpoint(repo: RepoWithAgents) -> str:
    proc = run_gitwarden("checkpoint", "a", "--clean", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split(": ")[1].split()[0]


def _head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()


# --- case 1: a file the safety checkpoint leaves out ------------------------------------------

def test_big_file_over_the_cap_is_left_in_place_and_survives_undo(repo: RepoWithAgents) -> None:
    a = repo.agents["a"]
    write(a, {"data.bin": "v1\n"})
    cp = _checkpoint(repo)
    write(a, {"data.bin": BIG})
    before = worktree_state(a)
    dry = run_gitwarden("rollback", "a", "--to", cp, "--dry-run", cwd=repo.main)
    assert "restore data.bin" not in dry.stdout and "leave in place data.bin" in dry.stdout
    done = run_gitwarden("rollback", "a", "--to", cp, "--yes", cwd=repo.main)
    assert done.returncode == 0, done.stderr
    assert "left in place data.bin" in done.stdout
    assert (a / "data.bin").read_bytes() == BIG
    undo = run_gitwarden("rollback", "a", "--undo", "--yes", cwd=repo.main)
    assert undo.returncode == 0, undo.stderr
    assert worktree_state(a) == before


def test_include_untracked_large_stashes_then_undo_brings_the_bytes_back(
        repo: RepoWithAgents) -> None:
    a = repo.agents["a"]
    write(a, {"data.bin": "v1\n"})
    cp = _checkpoint(repo)
    write(a, {"data.bin": BIG})
    before = worktree_state(a)
    done = run_gitwarden("rollback", "a", "--to", cp, "--yes", "--include-untracked-large",
                         cwd=repo.main)
    assert done.returncode == 0, done.stderr
    assert "saved data.bin into the stash" in done.stdout
    assert (a / "data.bin").read_text() == "v1\n"
    undo = run_gitwarden("rollback", "a", "--undo", "--yes", cwd=repo.main)
    assert undo.returncode == 0, undo.stderr
    assert worktree_state(a) == before


def test_file_ignored_after_the_checkpoint_is_not_overwritten(repo: RepoWithAgents) -> None:
    a = repo.agents["a"]
    write(a, {"cfg.txt": "v1\n"})
    cp = _checkpoint(repo)
    write(a, {".gitignore": "cfg.txt\n", "cfg.txt": "secret now ignored\n"})
    before = worktree_state(a)
    done = run_gitwarden("rollback", "a", "--to", cp, "--yes", cwd=repo.main)
    assert done.returncode == 0, done.stderr
    assert (a / "cfg.txt").read_text() == "secret now ignored\n"
    assert not (a / ".gitignore").exists()
    assert run_gitwarden("rollback", "a", "--undo", "--yes", cwd=repo.main).returncode == 0
    assert worktree_state(a) == before
    # With the flag: replaced after stashing, and the undo puts the ignored bytes back.
    forced = run_gitwarden("rollback", "a", "--to", cp, "--yes", "--include-untracked-large",
                           cwd=repo.main)
    assert forced.returncode == 0, forced.stderr
    assert (a / "cfg.txt").read_text() == "v1\n"
    assert run_gitwarden("rollback", "a", "--undo", "--yes", cwd=repo.main).returncode == 0
    assert worktree_state(a) == before


def test_stash_over_budget_refuses_and_changes_nothing(repo: RepoWithAgents) -> None:
    a = repo.agents["a"]
    (repo.main / "gitwarden.toml").write_text('[checkpoints]\nstash_budget = "1MiB"\n')
    write(a, {"data.bin": "v1\n"})
    cp = _checkpoint(repo)
    write(a, {"data.bin": BIG, "other.txt": "x\n"})
    before, head = worktree_state(a), _head(a)
    refused = run_gitwarden("rollback", "a", "--to", cp, "--yes", "--include-untracked-large",
                            cwd=repo.main)
    assert refused.returncode == 1
    assert "stash_budget" in refused.stderr and "data.bin" in refused.stderr
    assert worktree_state(a) == before and _head(a) == head


# --- case 3: a rollback that fails midway -----------------------------------------------------

def test_non_empty_directory_in_the_way_is_kept_and_nothing_half_applied(
        repo: RepoWithAgents) -> None:
    a = repo.agents["a"]
    write(a, {"y": "file y\n", ".gitignore": "*.o\n"})
    git(a, "add", "-A")
    git(a, "commit", "-qm", "y")
    cp = _checkpoint(repo)
    (a / "y").unlink()
    write(a, {"y/obj.o": "ignored build output\n", "staged.txt": "staged\n"})
    git(a, "add", "staged.txt")
    git(a, "commit", "-qm", "later")
    write(a, {"staged2.txt": "s2\n"})
    git(a, "add", "staged2.txt")
    before, head, staged = worktree_state(a), _head(a), git(a, "ls-files", "-s")
    done = run_gitwarden("rollback", "a", "--to", cp, "--yes", cwd=repo.main)
    assert done.returncode == 0, done.stderr
    assert "left in place y/obj.o" in done.stdout
    assert (a / "y/obj.o").read_text() == "ignored build output\n"
    undo = run_gitwarden("rollback", "a", "--undo", "--yes", cwd=repo.main)
    assert undo.returncode == 0, undo.stderr
    assert worktree_state(a) == before and _head(a) == head
    assert git(a, "ls-files", "-s") == staged


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _repo_on_tmpfs(tmp_path: Path, tmpfs: Path) -> tuple[RepoWithAgents, Path, str]:
    repo = make_repo_with_agents(tmp_path / "r", [], files={"README.md": "r\n"})
    a = tmpfs / "a"
    git(repo.main, "worktree", "add", "-q", "-b", "a", str(a))
    write(a, {"big.txt": os.urandom(1_500_000).hex()[:2_500_000]})  # 2.5 MB, committed
    git(a, "add", "-A")
    git(a, "commit", "-qm", "big")
    cp = run_gitwarden("checkpoint", "a", "--clean", cwd=repo.main)
    assert cp.returncode == 0, cp.stderr
    (a / "big.txt").unlink()
    git(a, "commit", "-qam", "drop big")
    write(a, {"wip.txt": "uncommitted\n", "filler.bin": b"\0" * 2_000_000})
    return repo, a, cp.stdout.split(": ")[1].split()[0]


def test_full_disk_is_refused_by_preflight(tmp_path: Path, tmpfs: Path) -> None:
    repo, a, cp = _repo_on_tmpfs(tmp_path, tmpfs)
    before, head = worktree_state(a), _head(a)
    proc = run_gitwarden("rollback", "a", "--to", cp, "--yes", cwd=repo.main)
    assert proc.returncode == 1 and "not enough free space" in proc.stderr
    assert "nothing was changed" in proc.stderr
    assert worktree_state(a) == before and _head(a) == head


def test_disk_filling_up_during_the_rollback_puts_everything_back(
        tmp_path: Path, tmpfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, a, cp = _repo_on_tmpfs(tmp_path, tmpfs)
    before, head = worktree_state(a), _head(a)
    staged = git(a, "ls-files", "-s")
    # Another process takes the space between the preflight and the writes.
    monkeypatch.setattr(transaction, "_check_space", lambda *args: None)
    workspace = Workspace.load(repo.main)
    with Store.open(workspace.repo) as store:
        target = find_checkpoint(workspace, store, workspace.agent("a"), cp)
        with pytest.raises(GitwardenError, match="put back as it was"):
            rollback(workspace, store, "a", target)
        assert not pauses.is_paused(store, "a")
    assert worktree_state(a) == before and _head(a) == head
    assert git(a, "ls-files", "-s") == staged


# --- case 5: pause and compare-and-swap -------------------------------------------------------

def test_agent_commit_landing_during_the_rollback_aborts_it(
        repo: RepoWithAgents, monkeypatch: pytest.MonkeyPatch) -> None:
    a = repo.agents["a"]
    cp = _checkpoint(repo)
    write(a, {"work.txt": "committed\n"})
    git(a, "add", "-A")
    git(a, "commit", "-qm", "work")
    real_swap = moves.swap_branch

    def commit_then_swap(*args: object, **kwargs: object) -> None:
        write(a, {"racing.txt": "landed during the rollback\n"})
        git(a, "add", "racing.txt")
        git(a, "commit", "-qm", "racing")
        real_swap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(moves, "swap_branch", commit_then_swap)
    workspace = Workspace.load(repo.main)
    with Store.open(workspace.repo) as store:
        target = find_checkpoint(workspace, store, workspace.agent("a"), cp)
        before = worktree_state(a)
        with pytest.raises(GitwardenError, match="commit landed"):
            rollback(workspace, store, "a", target)
    assert git(a, "log", "-1", "--format=%s").strip() == "racing"
    assert worktree_state(a) == dict(before, **{"racing.txt": (
        "file", b"landed during the rollback\n")})
    assert git(a, "status", "--porcelain").strip() == ""


# Like `echo $i >> log.txt` in a loop: the file is opened for each line.
WRITER = r"""
import os, sys, time
i = 0
while True:
    i += 1
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{i}\n".encode())
    os.close(fd)
    with open(sys.argv[2] + ".tmp", "w") as last:
        last.write(str(i))
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    time.sleep(0.001)
"""

TRIALS = 100 if os.environ.get("GITWARDEN_LONG_TESTS") else 20


def test_writer_appending_every_millisecond_loses_no_line(repo: RepoWithAgents,
                                                          tmp_path: Path) -> None:
    a = repo.agents["a"]
    cp = _checkpoint(repo)
    counter = tmp_path / "last"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(a / "log.txt"), str(counter)],
                              start_new_session=True)
    workspace = Workspace.load(repo.main)
    safeties: list[str] = []
    try:
        with Store.open(workspace.repo) as store:
            pauses.register_process(store, "a", writer.pid, writer.pid,
                                    process_start_time(writer.pid), "writer")
            target = find_checkpoint(workspace, store, workspace.agent("a"), cp)
            for _trial in range(TRIALS):
                while not (a / "log.txt").exists():
                    time.sleep(0.001)
                safeties.append(rollback(workspace, store, "a", target).safety)
                time.sleep(0.01)
    finally:
        writer.kill()
        writer.wait()
    last = int(counter.read_text())
    seen: set[int] = set()
    for safety in safeties:
        text = git(a, "show", f"{safety}:log.txt", check=False)
        seen.update(int(line) for line in text.split())
    seen.update(int(line) for line in (a / "log.txt").read_text().split())
    missing = sorted(set(range(1, last + 1)) - seen)
    assert missing == [], f"lines lost: {missing[:20]}"


HOLDER = r"""
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b"opened\n")
print("ready", flush=True)
while True:
    time.sleep(0.01)
"""


def test_process_keeping_a_replaced_file_open_stops_the_rollback(
        repo: RepoWithAgents) -> None:
    a = repo.agents["a"]
    cp = _checkpoint(repo)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(a / "held.log")],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
    workspace = Workspace.load(repo.main)
    try:
        with Store.open(workspace.repo) as store:
            pauses.register_process(store, "a", holder.pid, holder.pid,
                                    process_start_time(holder.pid), "holder")
            target = find_checkpoint(workspace, store, workspace.agent("a"), cp)
            before = worktree_state(a)
            with pytest.raises(GitwardenError, match=r"keeps held\.log open for writing"):
                rollback(workspace, store, "a", target)
            assert worktree_state(a) == before
            assert not pauses.is_paused(store, "a")
    finally:
        holder.kill()
        holder.wait()


COMMITTER = r"""
set -e
for i in $(seq 1 100); do
  echo "$i" > "c$i.txt"
  git add "c$i.txt"
  git commit -q -m "agent $i" || true
  git rev-parse HEAD >> "$1"
done
"""


def test_agent_commits_racing_rollbacks_are_never_dropped(repo: RepoWithAgents,
                                                          tmp_path: Path) -> None:
    a = repo.agents["a"]
    cp = _checkpoint(repo)
    made = tmp_path / "made"
    agent = subprocess.Popen(["bash", "-c", COMMITTER, "committer", str(made)], cwd=a,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workspace = Workspace.load(repo.main)
    outcomes: list[str] = []
    with Store.open(workspace.repo) as store:
        target = find_checkpoint(workspace, store, workspace.agent("a"), cp)
        while agent.poll() is None and len(outcomes) < 8:
            try:
                rollback(workspace, store, "a", target)
                outcomes.append("done")
            except GitwardenError as exc:
                outcomes.append(str(exc))
    agent.wait()
    assert outcomes
    reachable = set(git(a, "rev-list", "HEAD", "--glob=refs/gitwarden/*").split())
    dropped = [c for c in made.read_text().split() if c not in reachable]
    assert dropped == [], outcomes
