"""Recording overlaps: what the recorder remembers goes when the overlap resolves (the daemon
runs for months), on a real repository, store and merge predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.overlaps.predict import CONFLICT, MergePredictor
from gitwarden.overlaps.recorder import OverlapRecorder
from gitwarden.overlaps.tracker import Overlap, OverlapDelta
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
