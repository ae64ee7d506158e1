"""The incremental repack: loose objects end up in packs, nothing is ever lost, even while
checkpoints are taken and agents commit at the same moment (real git, real threads)."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.rollback import find_checkpoint, rollback
from gitwarden.checkpoints.take import take_checkpoint
from gitwarden.git.repack import LOCK_NAME, count_objects, repack_incremental
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from tests.helpers.gitrepo import commit_all, git, make_repo_with_agents, write

CHECKPOINTS = 30
COMMITS = 15


def test_repack_during_checkpoints_and_commits_loses_nothing(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"),
                                 files={"src/app.py": "v0\n", "README.md": "hi\n"})
    workspace = Workspace.load(repo.main)
    common = workspace.repo.common_dir
    state_dir = workspace.repo.ensure_state_dir()
    taken: list[tuple[str, str]] = []  # (checkpoint, content of src/app.py then)
    commits: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    done = threading.Event()
    repacks: list[str] = []

    def checkpoints() -> None:
        try:
            for n in range(CHECKPOINTS):
                content = f"alpha {n}\n" + "line\n" * n
                write(repo.agents["alpha"], {"src/app.py": content, f"new/{n}.txt": content})
                result = take_checkpoint(workspace, "alpha")
                assert result.status == "created" and result.commit
                taken.append((result.commit, content))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def agent_commits() -> None:
        try:
            for n in range(COMMITS):
                content = f"beta {n}\n"
                write(repo.agents["beta"], {"src/app.py": content})
                commits.append((commit_all(repo.agents["beta"], f"beta {n}"), content))
        except BaseException as exc:
            errors.append(exc)

    def repacking() -> None:
        try:
            while not done.is_set():
                repacks.append(repack_incremental(common, state_dir, min_loose=1).status)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=checkpoints), threading.Thread(target=agent_commits)]
    packer = threading.Thread(target=repacking)
    packer.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    packer.join()
    assert errors == []
    assert "repacked" in repacks
    repack_incremental(common, state_dir, min_loose=1)
    assert count_objects(common).loose == 0

    fsck = git(repo.main, "fsck", "--full", "--strict", "--no-dangling")
    assert "missing" not in fsck and "broken" not in fsck
    for commit, content in taken:
        assert git(repo.main, "show", f"{commit}:src/app.py") == content
    for commit, content in commits:
        assert git(repo.main, "show", f"{commit}:src/app.py") == content
    assert git(repo.agents["beta"], "status", "--porcelain") == ""
    # the oldest checkpoint, rolled up into a pack long ago, restores byte for byte
    oldest, content = taken[0]
    with Store.open(workspace.repo) as store:
        target = find_checkpoint(workspace, store, workspace.agent("alpha"), oldest)
        rollback(workspace, store, "alpha", target)
    assert (repo.agents["alpha"] / "src/app.py").read_text() == content
    assert not (repo.agents["alpha"] / "new/1.txt").exists()


def test_repack_keeps_unreachable_objects_for_git_gc(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    common = locate_repo(repo.main).common_dir
    dangling = git(repo.main, "hash-object", "-w", "--stdin", input_text="nobody\n").strip()
    result = repack_incremental(common, tmp_path, min_loose=1)
    assert result.status == "repacked" and result.after is not None
    assert result.after.loose == 0
    assert git(repo.main, "cat-file", "-p", dangling) == "nobody\n"


def test_repack_waits_for_nobody_and_respects_thresholds(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    common = locate_repo(repo.main).common_dir
    loose = count_objects(common).loose
    assert repack_incremental(common, tmp_path, min_loose=loose + 1).status == "not-needed"
    assert repack_incremental(common, tmp_path, min_loose=1, dry_run=True).status == \
        "would-repack"
    assert count_objects(common).loose == loose
    fd = os.open(tmp_path / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert repack_incremental(common, tmp_path, min_loose=1).status == "busy"
    finally:
        os.close(fd)
    (common / "gc.pid").write_text("12345 host\n")
    assert repack_incremental(common, tmp_path, min_loose=1).status == "busy"
    (common / "gc.pid").unlink()
    assert repack_incremental(common, tmp_path, min_loose=1).status == "repacked"


def test_many_small_packs_are_merged_though_nothing_is_loose(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    common = locate_repo(repo.main).common_dir
    git(repo.main, "repack", "-d", "-q")
    for n in range(4):
        write(repo.main, {f"file{n}.txt": f"{n}\n"})
        commit_all(repo.main, f"commit {n}")
        git(repo.main, "repack", "-d", "-q")  # one more small pack each, nothing loose
    before = count_objects(common)
    assert before.loose == 0 and before.packs >= 4
    assert repack_incremental(common, tmp_path, min_loose=1000,
                              max_packs=before.packs).status == "not-needed"
    result = repack_incremental(common, tmp_path, min_loose=1000, max_packs=2)
    assert result.status == "repacked" and result.after is not None
    assert result.after.packs < before.packs
    assert git(repo.main, "fsck", "--no-progress") == ""
