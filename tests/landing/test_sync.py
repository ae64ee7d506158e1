"""`gitwarden sync` on real repositories: a clean agent is rebased (or merged) with its
uncommitted work kept, a conflicting one is left exactly as it was, a sync that fails half-way
is put back from its safety checkpoint, and every sync can be undone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.table import record_rollback
from gitwarden.checkpoints.take import take_checkpoint
from gitwarden.coordination import pauses
from gitwarden.landing.sync import PAUSED_BY, SYNC_PAUSE_REASON, plan_sync
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from tests.helpers.gitrepo import (
    RepoWithAgents,
    commit_all,
    git,
    loose_objects,
    make_repo_with_agents,
    run_gitwarden,
    unreachable_objects,
    write,
)
from tests.helpers.worktree_state import agent_files

LINES = "".join(f"line {i}\n" for i in range(1, 21))


def _repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": LINES, "g.txt": "g\n"})


def _snapshot(path: Path) -> tuple[object, ...]:
    """Files byte for byte (gitwarden's own context files aside), HEAD, branch and index:
    everything a sync may touch."""
    return (agent_files(path), git(path, "rev-parse", "HEAD"),
            git(path, "symbolic-ref", "HEAD"), git(path, "ls-files", "-s"))


def test_sync_rebases_a_clean_agent_keeping_its_uncommitted_work_and_undo_restores(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    write(alpha, {"f.txt": LINES.replace("line 2\n", "alpha\n")})
    mine = commit_all(alpha, "alpha work")
    write(alpha, {"notes.txt": "uncommitted notes\n", "g.txt": "g staged\n"})
    git(alpha, "add", "g.txt")
    write(repo.main, {"f.txt": LINES.replace("line 19\n", "base\n"), "new.txt": "new\n"})
    base = commit_all(repo.main, "base moves on")
    before = _snapshot(alpha)

    dry = run_gitwarden("sync", "alpha", "--dry-run", cwd=repo.main)
    assert dry.returncode == 0, dry.stderr
    assert "update f.txt" in dry.stdout and "keep 2 uncommitted" in dry.stdout
    assert _snapshot(alpha) == before

    proc = run_gitwarden("sync", "alpha", "--json", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    head = git(alpha, "rev-parse", "HEAD").strip()
    assert git(alpha, "rev-parse", "HEAD^").strip() == base  # rebased onto the base
    assert git(alpha, "log", "-1", "--format=%s").strip() == "alpha work"
    assert (alpha / "f.txt").read_text() == \
        LINES.replace("line 2\n", "alpha\n").replace("line 19\n", "base\n")
    assert (alpha / "new.txt").read_text() == "new\n"
    assert (alpha / "notes.txt").read_text() == "uncommitted notes\n"
    assert git(alpha, "status", "--porcelain").splitlines() == ["M  g.txt", "?? notes.txt"]
    assert git(alpha, "rev-parse", result["backup_ref"]).strip() == mine
    assert git(alpha, "cat-file", "-t", result["safety_checkpoint"]).strip() == "commit"
    assert head != mine

    undo = run_gitwarden("sync", "alpha", "--undo", cwd=repo.main)
    assert undo.returncode == 0, undo.stderr
    assert _snapshot(alpha) == before


def test_sync_of_a_conflicting_agent_changes_nothing_and_names_the_files(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    write(alpha, {"f.txt": LINES.replace("line 5\n", "alpha\n")})
    commit_all(alpha, "alpha")
    write(alpha, {"wip.txt": "work in progress\n"})
    write(repo.main, {"f.txt": LINES.replace("line 5\n", "base\n")})
    commit_all(repo.main, "base")
    before = _snapshot(alpha)
    for strategy in ("--rebase", "--merge"):
        proc = run_gitwarden("sync", "alpha", strategy, cwd=repo.main)
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and "would conflict in f.txt" in proc.stderr
        assert "nothing was changed" in proc.stderr
        assert _snapshot(alpha) == before
    with Store.open(Workspace.load(repo.main).repo) as store:
        assert len(list_events(store, kinds=["sync.refused"])) == 2
        assert not list_events(store, kinds=["agent.paused"])  # the sync pause is silent


def test_a_sync_that_fails_half_way_is_put_back_exactly(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    write(alpha, {"a.txt": "alpha\n"})
    commit_all(alpha, "alpha")
    write(repo.main, {"n/f.txt": "base adds a directory\n", "g.txt": "base g\n"})
    commit_all(repo.main, "base")
    write(alpha, {"n": "an untracked file where the base now has a directory\n"})
    before = _snapshot(alpha)
    workspace = Workspace.load(repo.main)
    assert plan_sync(workspace, workspace.agent("alpha")).refusal is None  # not foreseen
    proc = run_gitwarden("sync", "alpha", cwd=repo.main)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "undone, everything is as it was" in proc.stderr and "n' would be" in proc.stderr
    assert _snapshot(alpha) == before
    status = run_gitwarden("status", "alpha", "--json", cwd=repo.main)
    assert json.loads(status.stdout)["agents"][0]["paused"] is False


def test_sync_refuses_uncommitted_changes_the_base_would_overwrite(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    write(alpha, {"f.txt": LINES.replace("line 1\n", "uncommitted\n")})
    write(repo.main, {"f.txt": LINES.replace("line 20\n", "base\n")})
    commit_all(repo.main, "base")
    before = _snapshot(alpha)
    proc = run_gitwarden("sync", "alpha", cwd=repo.main)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "uncommitted changes in f.txt" in proc.stderr and "commit them first" in proc.stderr
    assert _snapshot(alpha) == before


def test_sync_merge_and_up_to_date(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    assert "up to date" in run_gitwarden("sync", "alpha", cwd=repo.main).stdout
    write(alpha, {"a.txt": "alpha\n"})
    mine = commit_all(alpha, "alpha")
    write(repo.main, {"b.txt": "base\n"})
    base = commit_all(repo.main, "base")
    proc = run_gitwarden("sync", "alpha", "--merge", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert git(alpha, "rev-parse", "HEAD^1", "HEAD^2").split() == [mine, base]
    assert (alpha / "b.txt").read_text() == "base\n"
    assert git(alpha, "status", "--porcelain") == ""
    # rollback --undo undoes a sync too: a sync is recorded like a rollback
    undo = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
    assert undo.returncode == 0, undo.stderr
    assert git(alpha, "rev-parse", "HEAD").strip() == mine
    assert not (alpha / "b.txt").exists()


def test_an_agent_may_sync_only_itself(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"))
    proc = run_gitwarden("sync", "beta", cwd=repo.agents["alpha"])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "alpha may sync only itself" in proc.stderr


def test_a_killed_sync_leaves_no_pause_behind_the_next_sync(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("a",))
    write(repo.agents["a"], {"a.txt": "a\n"})
    commit_all(repo.agents["a"], "a")
    write(repo.main, {"m.txt": "m\n"})
    commit_all(repo.main, "m")
    with Store.open(Workspace.load(repo.main).repo) as store:
        pauses.pause_agents(store, ["a"], SYNC_PAUSE_REASON, PAUSED_BY)  # as a killed sync left
    assert run_gitwarden("sync", "a", cwd=repo.main).returncode == 0
    status = json.loads(run_gitwarden("status", "a", "--json", cwd=repo.main).stdout)
    assert status["agents"][0]["paused"] is False
    assert (repo.agents["a"] / "m.txt").exists()


def test_an_interrupted_sync_must_be_put_back_before_anything_else(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("a",))
    write(repo.agents["a"], {"a.txt": "a\n"})
    head = commit_all(repo.agents["a"], "a")
    write(repo.main, {"m.txt": "m\n"})
    commit_all(repo.main, "m")
    with Store.open(Workspace.load(repo.main).repo) as store:
        checkpoint = take_checkpoint(Workspace.load(repo.main), "a", store=store).commit
        assert checkpoint is not None
        record_rollback(store, agent="a", target=head, safety=checkpoint, backup_ref=None,
                        old_head=head, new_head=head, branch="a", is_undo=False,
                        completed=False)  # as a sync killed half-way leaves it
    for command in (("sync", "a"), ("land", "a")):
        proc = run_gitwarden(*command, cwd=repo.main)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert "was interrupted" in proc.stderr and "gitwarden sync a --undo" in proc.stderr
    assert run_gitwarden("sync", "a", "--undo", cwd=repo.main).returncode == 0
    assert run_gitwarden("sync", "a", cwd=repo.main).returncode == 0
    assert (repo.agents["a"] / "m.txt").exists()


@pytest.mark.parametrize("strategy", ["--rebase", "--merge"])
def test_a_sync_dry_run_leaves_no_object_behind(tmp_path: Path, strategy: str) -> None:
    """The commits a dry run shows are built in quarantine: none stays in the repository."""
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    write(alpha, {"f.txt": LINES.replace("line 2\n", "alpha\n")})
    commit_all(alpha, "alpha work")
    write(repo.main, {"f.txt": LINES.replace("line 19\n", "base\n")})
    commit_all(repo.main, "base moves on")
    loose, unreachable = loose_objects(repo.main), unreachable_objects(repo.main)
    dry = run_gitwarden("sync", "alpha", strategy, "--dry-run", "--json", cwd=repo.main)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["write"] == ["f.txt"]
    assert unreachable_objects(repo.main) == unreachable
    assert loose_objects(repo.main) == loose
