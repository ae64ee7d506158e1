"""Which agents a `gitwarden checkpoint` takes and what it prints: one home for the CLI's
direct path and the daemon's answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.manual import exit_code, render, select_agents
from gitwarden.checkpoints.take import CheckpointResult
from gitwarden.errors import UsageError
from tests.helpers.gitrepo import make_repo_with_agents


def test_the_agents_chosen_and_the_refusals(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"))
    workspace = Workspace.load(repo.main)

    def names(*args: object) -> list[str]:
        return [agent.name for agent in select_agents(workspace, *args)]  # type: ignore[arg-type]

    assert names(["beta"], False, False, repo.main) == ["beta"]
    assert names([], True, False, repo.main) == ["alpha", "beta"]
    assert names([], False, True, repo.agents["alpha"] / "src") == ["alpha"]
    assert names(["beta"], False, True, repo.agents["alpha"]) == ["beta"]  # any agent's
    for args, message in [(([], True, True, None), "--clean needs the agents named"),
                          ((["alpha"], True, False, None), "name agents or use --all"),
                          (([], False, False, repo.main), "name an agent or use --all"),
                          ((["nobody"], False, False, None), "unknown agent 'nobody'")]:
        with pytest.raises(UsageError, match=message):
            names(*args)


def test_what_is_printed() -> None:
    results = [CheckpointResult("alpha", "created", "a" * 40, left_out=["big.bin"]),
               CheckpointResult("beta", "unchanged", "b" * 40),
               CheckpointResult("gamma", "skipped", None, "merge in progress")]
    out, err = render(results, message="before", clean=False, as_json=False)
    assert out.splitlines() == [
        f"alpha: {'a' * 40}",
        "beta: unchanged (bbbbbbbbbb); message 'before' not recorded: nothing changed since "
        "that checkpoint",
        "gamma: skipped: merge in progress"]
    assert err == "  left out 1 untracked file(s) over the size cap: big.bin\n"
    assert exit_code(results) == 1 and exit_code(results[:2]) == 0
    out, err = render(results[:2], message=None, clean=True, as_json=False)
    assert out.endswith("[clean]\n") and "big.bin" in err
    out, _ = render(results, message=None, clean=False, as_json=True)
    assert [c["status"] for c in json.loads(out)["checkpoints"]] == \
        ["created", "unchanged", "skipped"]
