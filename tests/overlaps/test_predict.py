"""Merge prediction on real repositories and worktrees, uncommitted work included."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwarden.overlaps.predict import CLEAN_MERGE, CONFLICT, MergePredictor, Side, conflict_ranges
from tests.helpers.gitrepo import commit_all, git, make_repo_with_agents, write

BASE = "".join(f"line {i}\n" for i in range(1, 21))


def _sides(repo_agents: dict[str, Path]) -> list[Side]:
    return [Side(name, path, git(path, "rev-parse", "HEAD").strip())
            for name, path in sorted(repo_agents.items())]


def test_same_line_edits_conflict_with_line_ranges(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.agents["alpha"], {"f.txt": BASE.replace("line 5\n", "alpha five\n")})
    write(repo.agents["beta"], {"f.txt": BASE.replace("line 5\n", "beta 5\nbeta 5b\n")})
    status_before = git(repo.agents["alpha"], "status", "--porcelain")
    prediction = MergePredictor(repo.main).predict("f.txt", _sides(repo.agents))
    assert prediction.classification == CONFLICT
    assert len(prediction.hunks) == 1
    hunk = prediction.hunks[0]
    assert hunk.agents == ("alpha", "beta")
    assert hunk.ours_lines == (5, 5)
    assert hunk.theirs_lines == (5, 6)
    # read-only: the agent's index and worktree are untouched
    assert git(repo.agents["alpha"], "status", "--porcelain") == status_before


def test_distant_edits_merge_cleanly_including_committed_work(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.agents["alpha"], {"f.txt": BASE.replace("line 2\n", "alpha 2\n")})
    commit_all(repo.agents["alpha"], "alpha edit")
    write(repo.agents["beta"], {"f.txt": BASE.replace("line 18\n", "beta 18\n")})
    prediction = MergePredictor(repo.main).predict("f.txt", _sides(repo.agents))
    assert prediction.classification == CLEAN_MERGE
    assert prediction.hunks == ()


def test_delete_against_modify_conflicts_and_identical_edits_do_not(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"), files={"f.txt": BASE})
    (repo.agents["alpha"] / "f.txt").unlink()
    write(repo.agents["beta"], {"f.txt": BASE + "more\n"})
    write(repo.agents["gamma"], {"f.txt": BASE + "more\n"})
    predictor = MergePredictor(repo.main)
    sides = {s.agent: s for s in _sides(repo.agents)}
    both_added = predictor.predict("f.txt", [sides["beta"], sides["gamma"]])
    assert both_added.classification == CLEAN_MERGE
    deleted = predictor.predict("f.txt", [sides["alpha"], sides["beta"]])
    assert deleted.classification == CONFLICT
    assert "deleted" in (deleted.reason or "")


def test_new_file_added_differently_by_two_agents_conflicts(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"))
    write(repo.agents["alpha"], {"new.py": "a = 1\n"})
    write(repo.agents["beta"], {"new.py": "a = 2\n"})
    prediction = MergePredictor(repo.main).predict("new.py", _sides(repo.agents))
    assert prediction.classification == CONFLICT


def test_results_are_cached_by_object_ids(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.agents["alpha"], {"f.txt": BASE.replace("line 5\n", "A\n")})
    write(repo.agents["beta"], {"f.txt": BASE.replace("line 5\n", "B\n")})
    predictor = MergePredictor(repo.main)
    first = predictor.predict("f.txt", _sides(repo.agents))
    assert len(predictor._cache) == 1
    assert predictor.predict("f.txt", _sides(repo.agents)) == first
    assert len(predictor._cache) == 1
    write(repo.agents["beta"], {"f.txt": BASE.replace("line 9\n", "B\n")})
    assert predictor.predict("f.txt", _sides(repo.agents)).classification == CLEAN_MERGE
    assert len(predictor._cache) == 2


def test_conflict_ranges_parses_diff3_markers() -> None:
    merged = "a\n<<<<<<< ours\nx\ny\n||||||| base\nb\n=======\nz\n>>>>>>> theirs\nc\n"
    assert conflict_ranges(merged) == [((2, 3), (2, 2))]


def _loose_objects(repo: Path) -> int:
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    return int(counts["count"])


def test_predictions_create_no_object_in_the_repository(tmp_path: Path) -> None:
    files = {f"src/f{i}.txt": BASE for i in range(60)}
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"), files=files)
    for number, (name, path) in enumerate(sorted(repo.agents.items())):
        write(path, {rel: BASE.replace(f"line {3 + 6 * number}\n", f"{name} was here\n")
                     for rel in files})
    write(repo.agents["alpha"], {"src/f0.txt": BASE.replace("line 9\n", "alpha clash\n")})
    before = _loose_objects(repo.main)
    predictor = MergePredictor(repo.main)
    results = {rel: predictor.predict(rel, _sides(repo.agents)) for rel in files}
    assert results["src/f0.txt"].classification == CONFLICT  # alpha and gamma, line 9
    assert {r.classification for rel, r in results.items() if rel != "src/f0.txt"} == \
        {CLEAN_MERGE}
    assert _loose_objects(repo.main) == before


def test_binary_files_changed_on_both_sides_conflict_without_merging(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"img.bin": b"\0base\n"})
    write(repo.agents["alpha"], {"img.bin": b"\0alpha\n"})
    write(repo.agents["beta"], {"img.bin": b"\0beta\n"})
    prediction = MergePredictor(repo.main).predict("img.bin", _sides(repo.agents))
    assert prediction.classification == CONFLICT
    assert prediction.reason is not None and "binary" in prediction.reason


def test_a_long_lived_predictor_lets_go_of_packs_a_repack_deleted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitwarden.overlaps import predict

    monkeypatch.setattr(predict, "REOPEN_INTERVAL", 0.0)
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    predictor = MergePredictor(repo.main)
    for n in range(6):
        for name in ("alpha", "beta"):
            write(repo.agents[name], {"f.txt": BASE.replace("line 5\n", f"{name} {n}\n")})
            commit_all(repo.agents[name], f"{name} {n}")
        assert predictor.predict("f.txt", _sides(repo.agents)).classification == CONFLICT
        git(repo.main, "repack", "-d", "-q", "--geometric=2")
    assert predictor.predict("f.txt", _sides(repo.agents)).classification == CONFLICT
    pack_dir = str(repo.main / ".git" / "objects" / "pack")
    with open("/proc/self/maps") as maps:
        stale = [line for line in maps if pack_dir in line and "(deleted)" in line]
    assert stale == []


def test_merge_bases_and_ancestor_files_are_looked_up_once_and_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitwarden.overlaps import predict

    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    predictor = MergePredictor(repo.main)
    for edit in range(3):  # new blobs each time: merged again, merge base known
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 5\n", f"A{edit}\n")})
        write(repo.agents["beta"], {"f.txt": BASE.replace("line 5\n", f"B{edit}\n")})
        assert predictor.predict("f.txt", _sides(repo.agents)).classification == CONFLICT
        assert (len(predictor._merge_bases), len(predictor._in_commits)) == (1, 1)
    assert len(predictor._cache) == 3
    git(repo.agents["beta"], "commit", "-qam", "beta commits")  # a new HEAD: a new pair
    assert predictor.predict("f.txt", _sides(repo.agents)).classification == CONFLICT
    assert len(predictor._merge_bases) == 2
    monkeypatch.setattr(predict, "_IN_COMMIT_LIMIT", 2)
    for rel in ("a.txt", "b.txt", "c.txt"):
        predictor.predict(rel, _sides(repo.agents))
    assert len(predictor._in_commits) <= 2
    monkeypatch.setattr(predict, "_CACHE_LIMIT", 4)  # pair results: new blobs each edit
    for edit in range(20):
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 5\n", f"a{edit}\n")})
        assert predictor.predict("f.txt", _sides(repo.agents)).classification == CONFLICT
        assert len(predictor._cache) <= 4
