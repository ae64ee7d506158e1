"""Base awareness on real repositories: commits behind, conflicts with the base (committed or
uncommitted work, with line ranges), and whether a rebase would be clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitwarden.git.changes import worktree_changes
from gitwarden.git.commits import rev_parse_commit
from gitwarden.overlaps import base as base_module
from gitwarden.overlaps import predict
from gitwarden.overlaps.base import BaseAwareness, BaseStanding, base_target
from tests.helpers.gitrepo import (
    RepoWithAgents,
    commit_all,
    git,
    loose_objects,
    make_repo_with_agents,
    unreachable_objects,
    write,
)

LINES = "".join(f"line {i}\n" for i in range(1, 21))


def _standing(repo: RepoWithAgents, name: str = "alpha") -> BaseStanding:
    path = repo.agents[name]
    base = rev_parse_commit(repo.main, "main")
    head = rev_parse_commit(path, "HEAD")
    changes = worktree_changes(path, head, base)
    return BaseAwareness(repo.main / ".git").standing(
        name, path, head, base, changes.committed, (*changes.uncommitted, *changes.untracked))


def _repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": LINES, "g.txt": "g\n"})


def test_up_to_date_and_behind_without_conflict(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    assert _standing(repo).as_json()["rebase"] == "up-to-date"
    for number in range(3):
        write(repo.main, {f"n{number}.txt": "x\n"})
        commit_all(repo.main, f"base {number}")
    standing = _standing(repo)
    assert (standing.behind, standing.conflict, standing.rebase) == (3, False, "clean")
    assert standing.summary() == "3 behind"


def test_uncommitted_work_conflicting_with_the_base_has_line_ranges(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write(repo.agents["alpha"], {"f.txt": LINES.replace("line 4\n", "alpha 4\nalpha 4b\n")})
    write(repo.main, {"f.txt": LINES.replace("line 4\n", "base 4\n")})
    commit_all(repo.main, "base")
    standing = _standing(repo)
    assert standing.conflict and standing.summary() == "1 behind, conflict"
    hunk = standing.conflicts[0].prediction.hunks[0]
    assert (hunk.agents, hunk.ours_lines, hunk.theirs_lines) == (("base", "alpha"), (4, 4),
                                                                 (4, 5))
    assert standing.rebase == "blocked" and standing.blocked_by == ("f.txt",)


def test_committed_conflict_makes_the_rebase_conflict(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write(repo.agents["alpha"], {"f.txt": LINES.replace("line 9\n", "alpha\n")})
    commit_all(repo.agents["alpha"], "alpha")
    write(repo.agents["alpha"], {"f.txt": LINES.replace("line 9\n", "alpha again\n")})
    git(repo.agents["alpha"], "commit", "-qam", "alpha again")
    write(repo.main, {"f.txt": LINES.replace("line 9\n", "base\n")})
    commit_all(repo.main, "base")
    standing = _standing(repo)
    assert standing.conflict
    assert (standing.rebase, standing.rebase_conflicts) == ("conflict", ("f.txt",))


def test_edits_far_apart_merge_and_rebase_cleanly(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write(repo.agents["alpha"], {"f.txt": LINES.replace("line 1\n", "alpha\n")})
    commit_all(repo.agents["alpha"], "alpha")
    write(repo.main, {"f.txt": LINES.replace("line 20\n", "base\n")})
    commit_all(repo.main, "base")
    standing = _standing(repo)
    assert (standing.conflict, standing.rebase) == (False, "clean")


def test_a_rebase_prediction_leaves_no_object_behind(tmp_path: Path) -> None:
    """The rebase is tried with merged blobs and trees written in quarantine: none of them
    stays in the repository as an unreachable object."""
    repo = _repo(tmp_path)
    write(repo.agents["alpha"], {"f.txt": LINES.replace("line 1\n", "alpha\n")})
    commit_all(repo.agents["alpha"], "alpha")
    write(repo.main, {"f.txt": LINES.replace("line 20\n", "base\n")})
    commit_all(repo.main, "base")
    loose, unreachable = loose_objects(repo.main), unreachable_objects(repo.main)
    assert _standing(repo).rebase == "clean"
    assert unreachable_objects(repo.main) == unreachable
    assert loose_objects(repo.main) == loose


def test_a_rebase_is_replayed_once_per_head_and_base(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon asks after every write: the same three commits are not replayed again (a
    replay opens a repository in a quarantine), a new commit of the agent's is."""
    repo = _repo(tmp_path)
    write(repo.agents["alpha"], {"f.txt": LINES.replace("line 1\n", "alpha\n")})
    commit_all(repo.agents["alpha"], "alpha")
    write(repo.main, {"f.txt": LINES.replace("line 20\n", "base\n")})
    commit_all(repo.main, "base")
    replays: list[str] = []
    real = base_module.replay

    def counted(*args: Any, **kwargs: Any) -> Any:
        replays.append(args[1][-1])
        return real(*args, **kwargs)

    monkeypatch.setattr(base_module, "replay", counted)
    path, main = repo.agents["alpha"], rev_parse_commit(repo.main, "main")
    awareness = BaseAwareness(repo.main / ".git")

    def standing() -> BaseStanding:
        head = rev_parse_commit(path, "HEAD")
        changes = worktree_changes(path, head, main)
        return awareness.standing("alpha", path, head, main, changes.committed,
                                  (*changes.uncommitted, *changes.untracked))

    assert [standing().rebase for _ in range(3)] == ["clean"] * 3
    assert len(replays) == 1
    write(path, {"f.txt": LINES.replace("line 1\n", "alpha\n").replace("line 20\n", "a\n")})
    commit_all(path, "alpha again")
    assert standing().rebase == "conflict" and standing().rebase == "conflict"
    assert replays == [replays[0], rev_parse_commit(path, "HEAD")]
    assert awareness.cache_size == 3  # two replays, one set of paths the base changed


def test_base_target_is_the_remote_tracking_branch_once_fetched(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    local = rev_parse_commit(repo.main, "main")
    assert base_target(repo.main, "main", local, "origin") == ("main", local)
    git(repo.main, "update-ref", "refs/remotes/origin/main", local)
    assert base_target(repo.main, "main", local, "origin") == ("origin/main", local)
    assert base_target(repo.main, "main", local, None) == ("main", local)


def test_the_repository_follows_the_predictor_when_it_reopens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A repository kept from the start would keep the packs a repack deleted mapped."""
    repo = _repo(tmp_path)
    awareness = BaseAwareness(repo.main / ".git")
    first = awareness.repo
    monkeypatch.setattr(predict, "REOPEN_INTERVAL", 0.0)
    reopened = awareness.repo
    monkeypatch.setattr(predict, "REOPEN_INTERVAL", 3600.0)
    assert reopened is not first
    assert awareness.repo is reopened is awareness.predictor.repo
