"""An incremental checkpoint holds exactly what a full one would, or is not taken.

Each case builds a state, takes the checkpoint from a changed-path set the way the daemon
does, and compares its tree with git's own `add -A && write-tree` in a temporary index. When
something decided the snapshot beyond the paths given (the index, ignore rules, config, a
checkpoint nobody recorded), the checkpoint must come from a full scan instead.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import freshness
from gitwarden.checkpoints.snapshot import full_snapshot
from gitwarden.checkpoints.take import CheckpointResult, take_checkpoint
from gitwarden.git.status_scan import StatusScan
from tests.helpers.gitrepo import (
    baseline_tree,
    git,
    loose_objects,
    make_nested_repo,
    make_repo_with_agents,
    unreachable_objects,
    write,
)

BASE_FILES: dict[str, str | bytes] = {
    "README.md": "hello\n",
    "src/app.py": "print('hi')\n",
    "src/old_name.py": "x = 1\n",
    "docs/gone.md": "bye\n",
    "docs/also/deep.md": "deep\n",
    "tools/run.sh": "#!/bin/sh\necho run\n",
    ".gitignore": "*.log\nbuild/\n",
    "lib/keep.txt": "keep\n",
}


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    repo = make_repo_with_agents(tmp_path / "r", ["alpha"], files=BASE_FILES)
    return repo.agents["alpha"]


def base_checkpoint(agent: Path) -> Workspace:
    """A full checkpoint recorded as a trusted base (inputs older than the scan)."""
    time.sleep(freshness.CLOCK_SLACK * 2)
    workspace = Workspace.load(agent)
    result = take_checkpoint(workspace, "alpha")
    assert result.status in ("created", "unchanged")
    return workspace


def tree_of(agent: Path, result: CheckpointResult) -> str:
    return git(agent, "rev-parse", f"{result.commit}^{{tree}}").strip()


def test_every_kind_of_change_gives_the_full_tree(agent: Path, tmp_path: Path) -> None:
    write(agent, {"big-later.bin": b"x" * 10, "src/link-later": "plain\n"})
    workspace = base_checkpoint(agent)
    write(agent, {"README.md": "hello\nedited\n", "new dir/sub/a.txt": "a\n",
                  "new dir/b.txt": "b\n", "ünïcødé/ファイル.txt": "名前\n", "empty.txt": "",
                  "debug.log": "ignored\n", "build/out.o": b"\x00ignored",
                  "big-later.bin": b"x" * ((1 << 20) + 1),
                  "big-new.bin": b"y" * ((1 << 20) + 1)})
    (agent / "docs" / "gone.md").unlink()
    shutil.rmtree(agent / "docs" / "also")
    os.rename(agent / "src" / "old_name.py", agent / "src" / "renamed.py")
    (agent / "tools" / "run.sh").chmod(0o755)
    os.symlink("../README.md", agent / "src" / "readme-link")
    (agent / "lib" / "keep.txt").unlink()
    os.symlink("keep-target", agent / "lib" / "keep.txt")  # file -> symlink
    (agent / "src" / "link-later").unlink()
    os.symlink("app.py", agent / "src" / "link-later")
    changed = ["README.md", "new dir", "ünïcødé/ファイル.txt", "empty.txt", "debug.log",
               "build", "big-later.bin", "big-new.bin", "docs/gone.md", "docs/also",
               "src/old_name.py", "src/renamed.py", "tools/run.sh", "src/readme-link",
               "lib/keep.txt", "src/link-later"]

    result = take_checkpoint(workspace, "alpha", changed_paths=changed)

    assert result.incremental and result.status == "created"
    full = full_snapshot(pygit2.Repository(str(agent)), max_untracked_size=1 << 20)
    assert tree_of(agent, result) == str(full.tree)
    (agent / "big-later.bin").unlink()  # git itself knows no size cap
    (agent / "big-new.bin").unlink()
    assert str(full.tree) == baseline_tree(agent, tmp_path)
    listing = git(agent, "ls-tree", "-r", result.commit)
    assert "big-new.bin" not in listing and "debug.log" not in listing
    assert "big-later.bin" not in listing  # untracked and now over the cap: left out
    assert sorted(result.left_out) == ["big-later.bin", "big-new.bin"]


def test_incremental_checkpoints_chain_on_each_other(agent: Path, tmp_path: Path) -> None:
    workspace = base_checkpoint(agent)
    for round_ in range(3):
        write(agent, {f"round{round_}.txt": f"{round_}\n", "README.md": f"round {round_}\n"})
        result = take_checkpoint(workspace, "alpha",
                                 changed_paths=[f"round{round_}.txt", "README.md"])
        assert result.incremental and result.status == "created"
        assert tree_of(agent, result) == baseline_tree(agent, tmp_path)


def _unrecorded_base(agent: Path) -> list[str]:
    state = Path(git(agent, "rev-parse", "--git-common-dir").strip())
    if not state.is_absolute():
        state = agent / state
    (state / "gitwarden" / "checkpoints" / "alpha").unlink()
    write(agent, {"README.md": "changed while nobody watched\n"})
    return ["src/app.py"]


def _rm_cached_ignored(agent: Path) -> list[str]:
    git(agent, "rm", "-q", "--cached", "tracked.log")  # the file stays, now untracked+ignored
    return []


def _add_force_ignored(agent: Path) -> list[str]:
    git(agent, "add", "-f", "build/forced.o")
    return []


def _exclude_untracked(agent: Path) -> list[str]:
    common = Path(git(agent, "rev-parse", "--path-format=absolute", "--git-common-dir").strip())
    with open(common / "info" / "exclude", "a", encoding="utf-8") as handle:
        handle.write("notes.txt\n")
    return []


def _gitignore_in_the_set(agent: Path) -> list[str]:
    write(agent, {".gitignore": "*.log\nbuild/\nnotes.txt\n"})
    return [".gitignore"]


def _filemode_off(agent: Path) -> list[str]:
    git(agent, "config", "core.filemode", "false")  # modes now come from the index
    return []


def _nested_repo_commit(agent: Path) -> list[str]:
    nested = agent / "vendor" / "lib"
    write(nested, {"inner.txt": "second\n"})
    git(nested, "commit", "-qam", "second")
    return ["vendor/lib/.git/refs/heads/master", "vendor/lib/.git/logs/HEAD"]


def _prepare(agent: Path) -> None:
    write(agent, {"tracked.log": "tracked though ignored\n", "build/forced.o": b"\x01",
                  "notes.txt": "untracked notes\n"})
    git(agent, "add", "-f", "tracked.log")
    git(agent, "commit", "-qm", "tracked ignored file")
    (agent / "tools" / "run.sh").chmod(0o755)
    make_nested_repo(agent / "vendor" / "lib")


@pytest.mark.parametrize("unreported", [_unrecorded_base, _rm_cached_ignored,
                                        _add_force_ignored, _exclude_untracked,
                                        _gitignore_in_the_set, _filemode_off,
                                        _nested_repo_commit])
def test_what_the_paths_do_not_tell_falls_back_to_a_full_scan(
        agent: Path, tmp_path: Path, unreported: Callable[[Path], list[str]]) -> None:
    _prepare(agent)
    workspace = base_checkpoint(agent)
    before = git(agent, "rev-parse", "refs/gitwarden/checkpoints/alpha").strip()
    changed = unreported(agent)
    expected = baseline_tree(agent, tmp_path)
    assert expected != git(agent, "rev-parse", f"{before}^{{tree}}").strip()

    result = take_checkpoint(Workspace.load(agent), "alpha", changed_paths=changed)

    assert not result.incremental and result.status == "created"
    assert tree_of(agent, result) == expected
    del workspace


def test_a_base_is_recorded_only_when_its_inputs_held_still(agent: Path) -> None:
    workspace = base_checkpoint(agent)
    state_dir = workspace.repo.state_dir
    tip = git(agent, "rev-parse", "refs/gitwarden/checkpoints/alpha").strip()
    current = ("digest", time.time() - 10)
    assert freshness.record_base(state_dir, "alpha", tip, current, current, time.time())
    assert freshness.trusted_base(state_dir, "alpha", tip, current)
    assert not freshness.trusted_base(state_dir, "alpha", "0" * 40, current)
    assert not freshness.trusted_base(state_dir, "alpha", tip, ("other", current[1]))
    # An input that changed during the snapshot, or just before it started: not a base.
    assert not freshness.record_base(state_dir, "alpha", tip, current, ("moved", 0.0),
                                     time.time())
    assert not freshness.trusted_base(state_dir, "alpha", tip, current)
    recent = ("digest", time.time())
    assert not freshness.record_base(state_dir, "alpha", tip, recent, recent, time.time())


def test_a_checkpoint_whose_index_moved_during_the_scan_is_not_a_base(agent: Path) -> None:
    workspace = base_checkpoint(agent)
    scan = StatusScan(agent)  # the scan starts, then the agent's git writes the index
    write(agent, {"staged.txt": "staged\n"})
    git(agent, "add", "staged.txt")
    assert take_checkpoint(workspace, "alpha", scan=scan).status in ("created", "unchanged")
    write(agent, {"README.md": "edited\n"})
    result = take_checkpoint(workspace, "alpha", changed_paths=["README.md"])
    assert not result.incremental


def test_a_git_status_that_refreshes_the_index_keeps_the_base(agent: Path,
                                                             tmp_path: Path) -> None:
    workspace = base_checkpoint(agent)
    index = Path(git(agent, "rev-parse", "--path-format=absolute", "--git-path",
                     "index").strip())
    before = index.stat()
    os.utime(agent / "src" / "app.py", (1, 1))  # same bytes, new stat data: git refreshes it
    git(agent, "status", "--porcelain")
    after = index.stat()
    assert (after.st_ino, after.st_mtime_ns) != (before.st_ino, before.st_mtime_ns)
    write(agent, {"README.md": "after a status\n"})

    result = take_checkpoint(workspace, "alpha", changed_paths=["README.md"])

    assert result.incremental and result.status == "created"
    assert tree_of(agent, result) == baseline_tree(agent, tmp_path)


def test_files_the_base_holds_are_read_without_asking_the_ignore_rules(agent: Path,
                                                                        tmp_path: Path) -> None:
    """A tracked file that an ignore rule matches stays in (the base holds it), an ignored
    untracked one stays out, and so does an ignored file where the base had a directory."""
    write(agent, {"tracked.log": "tracked though ignored\n", "old.log/a.txt": "a\n"})
    git(agent, "add", "-f", "tracked.log", "old.log/a.txt")
    git(agent, "commit", "-qm", "tracked files an ignore rule matches")
    workspace = base_checkpoint(agent)
    write(agent, {"tracked.log": "edited\n", "other.log": "ignored\n"})
    shutil.rmtree(agent / "old.log")
    write(agent, {"old.log": "an ignored file where a directory was\n"})

    result = take_checkpoint(workspace, "alpha",
                             changed_paths=["tracked.log", "other.log", "old.log"])

    assert result.incremental and result.status == "created"
    assert tree_of(agent, result) == baseline_tree(agent, tmp_path)
    listing = git(agent, "ls-tree", "-r", "--name-only", result.commit).split()
    assert "tracked.log" in listing and "other.log" not in listing
    assert not any(path.startswith("old.log") for path in listing)
    assert git(agent, "show", f"{result.commit}:tracked.log") == "edited\n"


def test_a_record_replaced_leaves_one_file_and_no_temporaries(agent: Path) -> None:
    workspace = base_checkpoint(agent)
    for round_ in range(3):
        write(agent, {"README.md": f"round {round_}\n"})
        assert take_checkpoint(workspace, "alpha", changed_paths=["README.md"]).incremental
    records = workspace.repo.state_dir / "checkpoints"
    tip = git(agent, "rev-parse", "refs/gitwarden/checkpoints/alpha").strip()
    assert [path.name for path in records.iterdir()] == ["alpha"]
    assert (records / "alpha").read_text().split()[0] == tip


def test_an_incremental_checkpoint_writes_one_pack_and_leaves_nothing_behind(
        agent: Path, tmp_path: Path) -> None:
    workspace = base_checkpoint(agent)
    pack_dir = Path(git(agent, "rev-parse", "--path-format=absolute", "--git-common-dir")
                    .strip()) / "objects" / "pack"
    packs, loose = set(pack_dir.iterdir()), loose_objects(agent)
    unreachable = unreachable_objects(agent)
    write(agent, {"README.md": "edited\n", "src/new/deep.py": "x = 2\n"})

    result = take_checkpoint(workspace, "alpha", changed_paths=["README.md", "src/new"])

    assert result.incremental and result.status == "created"
    assert tree_of(agent, result) == baseline_tree(agent, tmp_path)
    new_packs = set(pack_dir.iterdir()) - packs
    assert sorted(p.suffix for p in new_packs) == [".idx", ".pack"]
    assert loose_objects(agent) - loose == {result.commit}  # blobs and trees are in the pack
    assert unreachable_objects(agent) == unreachable
    assert git(agent, "fsck", "--no-progress") == ""
    # Touched, same bytes: the tree is the tip's, nothing is written, nothing is taken.
    write(agent, {"README.md": "edited\n"})
    again = take_checkpoint(workspace, "alpha", changed_paths=["README.md"])
    assert again.status == "unchanged" and set(pack_dir.iterdir()) - packs == new_packs


def test_names_libgit2_vets_are_written_in_an_incremental_checkpoint(agent: Path,
                                                                     tmp_path: Path) -> None:
    workspace = base_checkpoint(agent)
    write(agent, {".github/workflows/ci.yml": "on: push\n", "src/.gitkeep": "",
                  "README.md": "with a workflow\n"})

    result = take_checkpoint(workspace, "alpha",
                             changed_paths=[".github", "src/.gitkeep", "README.md"])

    assert result.incremental and result.status == "created"
    assert tree_of(agent, result) == baseline_tree(agent, tmp_path)
    assert git(agent, "fsck", "--no-progress") == ""
