"""The integration check says which agents it merged and which it left out, and why: a pass
that leaves agents out is `partial`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.gitrepo import commit_all, run_gitwarden, unreachable_objects, write
from tests.helpers.health_repo import agent_commits, setup_repo


def test_agents_left_out_make_the_integration_partial(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="notify", agents=("alpha", "beta", "delta", "gamma"))
    agent_commits(repo.agents["alpha"], {"shared.txt": "alpha's version\n"})
    agent_commits(repo.agents["beta"], {"shared.txt": "beta's version\n"})
    agent_commits(repo.agents["gamma"], {"README.md": "gamma's readme\n"})
    agent_commits(repo.agents["delta"], {"delta.txt": "work\n"})
    write(repo.main, {"README.md": "the base's readme\n"})
    commit_all(repo.main, "the base moves on")
    assert run_gitwarden("pause", "delta", cwd=repo.main).returncode == 0

    ran = run_gitwarden("health", "--run", "--integration", "--json", cwd=repo.main)
    assert ran.returncode == 0, ran.stderr
    integration = json.loads(ran.stdout)["integration"]
    assert integration["verdict"] == "partial"
    assert integration["merged"] == ["alpha"]
    assert integration["left_out"] == {"beta": "conflicts with agent alpha",
                                       "gamma": "conflicts with the base",
                                       "delta": "paused"}

    text = run_gitwarden("health", "--run", "--integration", cwd=repo.main).stdout
    assert "integration: partial" in text
    assert "left out: gamma (conflicts with the base)" in text
    assert "left out: beta (conflicts with agent alpha)" in text
    shown = json.loads(run_gitwarden("health", "--json", cwd=repo.main).stdout)["integration"]
    assert shown["verdict"] == "partial" and shown["merged"] == ["alpha"]
    assert shown["left_out"]["delta"] == "paused"
    table = run_gitwarden("health", cwd=repo.main).stdout
    assert "partial" in table and "gamma (conflicts with the base)" in table


def test_all_agents_merged_and_passing_is_a_pass(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="notify", agents=("alpha", "beta"))
    agent_commits(repo.agents["alpha"], {"a.txt": "a\n"})
    agent_commits(repo.agents["beta"], {"b.txt": "b\n"})
    ran = run_gitwarden("health", "--run", "--integration", "--json", cwd=repo.main)
    integration = json.loads(ran.stdout)["integration"]
    assert (integration["verdict"], integration["merged"], integration["left_out"]) == \
        ("pass", ["alpha", "beta"], {})


def test_an_integration_check_leaves_no_unreachable_object(tmp_path: Path) -> None:
    """Merges for the plan (each agent alone, then together) are tried in quarantine; only
    the candidate that is checked out enters the repository, where the scratch worktree's
    HEAD reaches it."""
    repo = setup_repo(tmp_path, policy="notify", agents=("alpha", "beta", "gamma"))
    agent_commits(repo.agents["alpha"], {"a.txt": "a\n"})
    agent_commits(repo.agents["beta"], {"b.txt": "b\n"})
    agent_commits(repo.agents["gamma"], {"README.md": "gamma's readme\n"})
    write(repo.main, {"README.md": "the base's readme\n"})
    commit_all(repo.main, "the base moves on")
    before = unreachable_objects(repo.main)
    ran = run_gitwarden("health", "--run", "--integration", "--json", cwd=repo.main)
    integration = json.loads(ran.stdout)["integration"]
    assert (integration["verdict"], integration["merged"]) == ("partial", ["alpha", "beta"])
    assert unreachable_objects(repo.main) == before
    again = run_gitwarden("health", "--run", "--integration", "--json", cwd=repo.main)
    assert json.loads(again.stdout)["integration"]["verdict"] == "partial"
    assert unreachable_objects(repo.main) == before
