"""Snapshots equal git's own `add -A && write-tree` into a temporary index, read-only."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.snapshot import SnapshotSkipped, full_snapshot, incremental_snapshot
from gitwarden.checkpoints.take import take_checkpoint
from gitwarden.git.status_scan import StatusScan
from tests.helpers.gitrepo import (
    baseline_tree,
    git,
    git_bytes,
    make_nested_repo,
    make_repo_with_agents,
    write,
)

BASE_FILES: dict[str, str | bytes] = {
    "README.md": "hello\n",
    "src/app.py": "print('hi')\n",
    "src/old_name.py": "x = 1\n",
    "docs/gone.md": "bye\n",
    "tools/run.sh": "#!/bin/sh\necho run\n",
    ".gitignore": "*.log\nbuild/\n",
    "lib/keep.txt": "keep\n",
}


def messy_worktree(worktree: Path) -> None:
    """Staged, unstaged, untracked, deleted, renamed, executable, symlink, unicode files."""
    write(worktree, {"README.md": "hello\nunstaged edit\n", "src/staged.py": "staged = True\n"})
    git(worktree, "add", "src/staged.py")
    write(worktree, {"src/staged.py": "staged = True\nthen edited\n",
                     "src/app.py": "print('staged only')\n"})
    git(worktree, "add", "src/app.py")
    (worktree / "docs" / "gone.md").unlink()
    git(worktree, "mv", "src/old_name.py", "src/new_name.py")
    write(worktree, {"new dir/untracked.txt": "untracked\n", "ünïcødé/ファイル.txt": "名前\n",
                     "debug.log": "ignored\n", "build/out.o": b"\x00\x01ignored"})
    (worktree / "tools" / "run.sh").chmod(0o755)
    write(worktree, {"bin/tool": "#!/bin/sh\n"})
    (worktree / "bin" / "tool").chmod(0o755)
    os.symlink("../README.md", worktree / "src" / "readme-link")
    os.symlink("lib", worktree / "lib-link")
    (worktree / "lib" / "keep.txt").unlink()
    os.symlink("keep-target", worktree / "lib" / "keep.txt")  # file -> symlink type change


def agent_state(worktree: Path) -> tuple[bytes, bytes, str, str]:
    git_dir = Path(git(worktree, "rev-parse", "--absolute-git-dir").strip())
    return ((git_dir / "index").read_bytes(),
            git_bytes(worktree, "status", "--porcelain=v2", "-z", "--untracked-files=all"),
            git(worktree, "rev-parse", "HEAD"), git(worktree, "symbolic-ref", "HEAD"))


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    repo = make_repo_with_agents(tmp_path / "r", ["alpha"], files=BASE_FILES)
    return repo.agents["alpha"]


def test_checkpoint_tree_equals_git_baseline_and_changes_nothing(agent: Path,
                                                                 tmp_path: Path) -> None:
    messy_worktree(agent)
    before = agent_state(agent)
    expected = baseline_tree(agent, tmp_path)
    assert agent_state(agent) == before  # the baseline itself used a temporary index

    result = take_checkpoint(Workspace.load(agent), "alpha")

    assert result.status == "created"
    assert agent_state(agent) == before
    tree = git(agent, "rev-parse", f"{result.commit}^{{tree}}").strip()
    assert tree == expected
    listing = git(agent, "ls-tree", "-r", result.commit)
    assert "120000 blob" in listing and "100755 blob" in listing
    assert "debug.log" not in listing and "build/" not in listing
    assert git(agent, "rev-parse", "refs/gitwarden/checkpoints/alpha").strip() == result.commit


def test_incremental_snapshot_equals_full_snapshot(agent: Path) -> None:
    workspace = Workspace.load(agent)
    first = take_checkpoint(workspace, "alpha")
    assert first.status == "created"
    messy_worktree(agent)
    changed = ["README.md", "src/staged.py", "src/app.py", "docs/gone.md", "src/old_name.py",
               "src/new_name.py", "new dir", "ünïcødé/ファイル.txt", "debug.log", "build",
               "tools/run.sh", "bin", "src/readme-link", "lib-link", "lib/keep.txt"]
    repo = pygit2.Repository(str(agent))
    tip = repo.references["refs/gitwarden/checkpoints/alpha"].peel(pygit2.Commit)
    incremental = incremental_snapshot(repo, tip.tree_id, changed, max_untracked_size=1 << 20)
    full = full_snapshot(repo, max_untracked_size=1 << 20)
    assert incremental is not None and incremental.incremental
    assert incremental.tree == full.tree

    # `git add` and `git mv` above rewrote the index since the first checkpoint: what the
    # index decides (tracked ignored files, modes) may have changed beyond the paths given,
    # so the checkpoint is taken from a full scan (checkpoints.freshness).
    result = take_checkpoint(workspace, "alpha", changed_paths=[str(agent / p) for p in changed])
    assert not result.incremental and result.status == "created"
    assert git(agent, "rev-parse", f"{result.commit}^{{tree}}").strip() == str(full.tree)
    again = take_checkpoint(workspace, "alpha")
    assert again.status == "unchanged" and again.commit == result.commit


def test_unchanged_tree_gives_unchanged_and_head_move_gives_new(agent: Path) -> None:
    workspace = Workspace.load(agent)
    first = take_checkpoint(workspace, "alpha")
    second = take_checkpoint(workspace, "alpha")
    assert (second.status, second.commit) == ("unchanged", first.commit)
    write(agent, {"x.txt": "x\n"})
    third = take_checkpoint(workspace, "alpha")
    assert third.status == "created"
    git(agent, "add", "-A")
    git(agent, "commit", "-qm", "x")  # same files, new HEAD: recorded as a new checkpoint
    fourth = take_checkpoint(workspace, "alpha")
    assert fourth.status == "created"
    assert git(agent, "rev-parse", f"{fourth.commit}^2").strip() == \
        git(agent, "rev-parse", "HEAD").strip()
    assert git(agent, "rev-parse", f"{fourth.commit}^1").strip() == third.commit
    message = git(agent, "log", "-1", "--format=%B", fourth.commit)
    for trailer in ("Gitwarden-Agent: alpha", "Gitwarden-Worktree: ", "Gitwarden-Head: ",
                    "Gitwarden-Base: "):
        assert trailer in message


def test_large_untracked_files_are_left_out_but_tracked_ones_kept(agent: Path) -> None:
    (agent / "gitwarden.toml").write_text("[checkpoints]\nmax_untracked_size = 100\n")
    write(agent, {"big.bin": b"x" * 500, "small.txt": "s\n", "README.md": "y" * 500})
    workspace = Workspace.load(agent)
    workspace.config = type(workspace.config)(
        checkpoints=type(workspace.config.checkpoints)(max_untracked_size=100))
    result = take_checkpoint(workspace, "alpha")
    assert result.left_out == ["big.bin"]
    listing = git(agent, "ls-tree", "-r", "--name-only", result.commit)
    assert "small.txt" in listing and "README.md" in listing and "big.bin" not in listing
    assert "Left out" in git(agent, "log", "-1", "--format=%B", result.commit)


def test_nested_repository_is_a_boundary(agent: Path, tmp_path: Path) -> None:
    make_nested_repo(agent / "vendor" / "nested")
    expected = baseline_tree(agent, tmp_path)
    result = take_checkpoint(Workspace.load(agent), "alpha")
    assert git(agent, "rev-parse", f"{result.commit}^{{tree}}").strip() == expected
    entry = git(agent, "ls-tree", "-r", result.commit, "vendor")
    assert entry.startswith("160000 commit")  # a gitlink, never the nested files
    repo = pygit2.Repository(str(agent))
    tip = repo.references["refs/gitwarden/checkpoints/alpha"].peel(pygit2.Commit)
    assert incremental_snapshot(repo, tip.tree_id, ["vendor/nested/inner.txt"],
                                max_untracked_size=1 << 20) is None  # unsure: use full


def test_unmerged_index_is_skipped_with_a_reason(agent: Path) -> None:
    write(agent, {"README.md": "ours\n"})
    git(agent, "commit", "-qam", "ours")
    main = agent.parent / "repo"
    write(main, {"README.md": "theirs\n"})
    git(main, "commit", "-qam", "theirs")
    git(agent, "merge", "main", check=False)
    before = agent_state(agent)
    result = take_checkpoint(Workspace.load(agent), "alpha")
    assert result.status == "skipped"
    assert result.reason is not None and "merge in progress" in result.reason
    assert agent_state(agent) == before
    with pytest.raises(SnapshotSkipped):
        full_snapshot(pygit2.Repository(str(agent)), max_untracked_size=1 << 20)


def test_clean_filters_from_attributes_apply_like_git_add(agent: Path, tmp_path: Path) -> None:
    write(agent, {"sub/.gitattributes": "*.txt text\n", "sub/crlf.txt": b"a\r\nb\r\n",
                  "raw.txt": b"keep\r\n"})
    workspace = Workspace.load(agent)
    result = take_checkpoint(workspace, "alpha")
    assert git(agent, "rev-parse", f"{result.commit}^{{tree}}").strip() == \
        baseline_tree(agent, tmp_path)
    assert git_bytes(agent, "show", f"{result.commit}:sub/crlf.txt") == b"a\nb\n"
    assert git_bytes(agent, "show", f"{result.commit}:raw.txt") == b"keep\r\n"


def test_git_status_snapshot_keeps_index_flags_and_unborn_heads(agent: Path,
                                                               tmp_path: Path) -> None:
    """The `git status` based snapshot equals git's add -A with i-t-a, skip-worktree,
    assume-unchanged entries (their index version is kept) and on an unborn branch."""
    messy_worktree(agent)
    write(agent, {"ita.txt": "intent to add\n", "sw.txt": "staged v1\n", "au.txt": "staged\n"})
    git(agent, "add", "-N", "ita.txt")
    git(agent, "add", "sw.txt", "au.txt")
    git(agent, "update-index", "--skip-worktree", "sw.txt")
    git(agent, "update-index", "--assume-unchanged", "au.txt")
    write(agent, {"sw.txt": "on disk v2\n", "au.txt": "on disk too\n"})
    workspace = Workspace.load(agent)
    scanned = StatusScan(agent).result()
    assert scanned is not None and scanned.entries  # git's view is used, not a fallback
    expected = baseline_tree(agent, tmp_path)
    result = take_checkpoint(workspace, "alpha")
    assert git(agent, "rev-parse", f"{result.commit}^{{tree}}").strip() == expected
    assert git(agent, "show", f"{result.commit}:sw.txt") == "staged v1\n"

    git(agent, "checkout", "-q", "--orphan", "fresh")  # unborn: the index stays
    expected = baseline_tree(agent, tmp_path)
    unborn = take_checkpoint(workspace, "alpha")
    assert unborn.status == "created"
    assert git(agent, "rev-parse", f"{unborn.commit}^{{tree}}").strip() == expected
