"""Recording overlaps: what the recorder remembers goes when the overlap resolves (the daemon
runs for months), on a real repository, store and merge predictor."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.overlaps.predict import CONFLICT, MergePredictor
from gitwarden.overlaps.recorder import MAX_TOLD_PER_PATH, OverlapRecorder
from gitwarden.overlaps.tracker import ChangeTracker, Overlap, OverlapDelta
from gitwarden.store.db import Store
from tests.helpers.gitrepo import make_repo_with_agents, write

BASE = "".join(f"line {i}\n" for i in range(1, 21))


def test_an_overlap_that_changed_agents_is_forgotten_when_it_resolves(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta", "gamma"), files={"f.txt": BASE})
    for name in ("alpha", "beta", "gamma"):
        write(repo.agents[name], {"f.txt": BASE.replace("line 5\n", f"{name} five\n")})
    workspace = Workspace.load(repo.main)
    agents = {agent.name: agent for agent in workspace.agents}
    emitted: list[tuple[Any, ...]] = []
    with Store.open(workspace.repo) as store:
        recorder = OverlapRecorder(store, MergePredictor(workspace.repo.common_dir),
                                   lambda: agents, dict,
                                   lambda *args, **_kw: emitted.append(args))
        two = Overlap("f.txt", ("alpha", "beta"), "alpha", 1.0)
        three = Overlap("f.txt", ("alpha", "beta", "gamma"), "alpha", 1.0)
        recorder.record(OverlapDelta(opened=[two]), 1.0)
        assert recorder.classification["f.txt"].classification == CONFLICT
        recorder.record(OverlapDelta(changed=[three]), 2.0)
        recorder.record(OverlapDelta(resolved=[three]), 3.0)
        sizes = recorder.memory_sizes()
    assert sizes["classification"] == 0
    assert sizes["told_conflict"] == 0
    assert len(emitted) == 3



def test_the_recorder_holds_only_open_overlaps_and_a_few_agent_sets_each(
        tmp_path: Path) -> None:
    names = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")
    repo = make_repo_with_agents(tmp_path, names, files={"f.txt": BASE})
    workspace = Workspace.load(repo.main)
    agents = {agent.name: agent for agent in workspace.agents}
    tracker = ChangeTracker()
    # f.txt stays in an overlap throughout while its agents change (15 pairs, 20 triples, more
    # than the cap), and each set's edits flip from a clean merge to a conflict and back;
    # other paths open and resolve on the way
    agent_sets = [*combinations(names, 2), *combinations(names, 3)]
    with Store.open(workspace.repo) as store:
        recorder = OverlapRecorder(store, MergePredictor(workspace.repo.common_dir),
                                   lambda: agents, lambda: tracker.overlaps,
                                   lambda *_args, **_kw: None)
        most = 0
        for cycle, agent_set in enumerate(agent_sets):
            for step, conflicting in enumerate((False, True, False)):
                now = cycle * 3.0 + step
                for index, name in enumerate(agent_set):
                    line = "line 5\n" if conflicting else f"line {index * 5 + 1}\n"
                    write(repo.agents[name], {"f.txt": BASE.replace(line, f"{name} edit\n")})
                for name in names:
                    tracker.set_dirty(name, {"f.txt", f"other/{cycle}.txt"}
                                      if name in agent_set else set(), now)
                delta = tracker.diff_overlaps(now)
                recorder.reclassify(now, set(), True, delta)
                recorder.record(delta, now)
                sizes = recorder.memory_sizes()
                assert sizes["classification"] <= len(tracker.overlaps)
                most = max(most, sizes["told_conflict"])
        assert recorder.classification["f.txt"].classification == "clean-merge"
        # an overlap gone without a resolved delta (the tracker replaced) is forgotten too
        tracker = ChangeTracker()
        recorder.reclassify(200.0, set(), True, OverlapDelta())
        left = recorder.memory_sizes()
    assert MAX_TOLD_PER_PATH == most < len(agent_sets)  # told for every set, at most the cap
    assert left["classification"] == left["told_conflict"] == 0
