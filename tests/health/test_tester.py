"""A result belongs to (check, tree, check config): an identical tree is never checked twice,
whichever agent (or the base, or an integration commit) it belongs to."""

from __future__ import annotations

import json
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.health import service as health_service
from gitwarden.health import table as health_state
from gitwarden.store.db import Store
from tests.helpers.gitrepo import commit_all, run_gitwarden, write
from tests.helpers.health_repo import agent_commits, head, setup_repo


def _runs(repo_main: Path) -> int:
    with Store.open(Workspace.load(repo_main).repo) as store:
        return health_state.count_runs(store)


def _logs(repo_main: Path) -> list[Path]:
    return sorted((Workspace.load(repo_main).repo.state_dir / "health-logs").glob("*.log"))


def test_three_agents_on_one_base_run_each_check_once(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, agents=("alpha", "beta", "gamma"),
                      extra='[health.checks.lint]\ncommand = "test -e README.md"\n')
    ran = run_gitwarden("health", "--run", "--json", cwd=repo.main)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)["agents"]
    assert [r["verdict"] for r in report] == ["pass", "pass", "pass"]
    assert _runs(repo.main) == 2 and len(_logs(repo.main)) == 2  # two checks, once each
    assert [r["cached"] for r in report] == [False, True, True]
    assert report[1]["cached_from"]["agent"] == "alpha"
    text = run_gitwarden("health", "--run", cwd=repo.main).stdout
    assert text.count("cached (same tree checked before)") == 3
    assert _runs(repo.main) == 2
    # a new agent on the verified base is not checked again; a new tree is
    repo.add_agent("delta")
    assert run_gitwarden("health", "delta", "--run", cwd=repo.main).returncode == 0
    assert _runs(repo.main) == 2
    shown = json.loads(run_gitwarden("health", "delta", "--json", cwd=repo.main).stdout)
    assert {r["cached"] for r in shown["results"]} == {True}
    agent_commits(repo.agents["alpha"], {"new.txt": "new\n"})
    assert run_gitwarden("health", "alpha", "--run", cwd=repo.main).returncode == 0
    assert _runs(repo.main) == 4


def test_same_tree_on_another_commit_reuses_a_failure_and_confirms_it(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="notify", agents=("alpha", "beta"))
    write(repo.agents["alpha"], {"status.txt": "broken\n"})
    write(repo.agents["beta"], {"status.txt": "broken\n"})
    bad_alpha = commit_all(repo.agents["alpha"], "alpha breaks it")
    bad_beta = commit_all(repo.agents["beta"], "beta breaks it the same way")
    assert bad_alpha != bad_beta
    workspace = Workspace.load(repo.main)
    health_service.on_agent_commit(workspace, "alpha", None, bad_alpha)
    first = _runs(repo.main)
    health_service.on_agent_commit(Workspace.load(repo.main), "beta", None, head(
        repo.agents["beta"]))
    with Store.open(workspace.repo) as store:
        (verdict,) = health_state.verdicts_at(store, "beta", bad_beta)
    # both observations of the failing tree and the base's pass are reused: nothing ran
    assert verdict.verdict == "broken" and verdict.culprit == bad_beta
    assert _runs(repo.main) == first and verdict.cached


def test_a_changed_check_config_is_a_new_result(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, agents=("alpha",))
    assert run_gitwarden("health", "--run", cwd=repo.main).returncode == 0
    assert _runs(repo.main) == 1
    config = (repo.main / "gitwarden.toml").read_text()
    write(repo.main, {"gitwarden.toml": config.replace("[health]\n", '[health]\ntimeout = "9m"\n')})
    assert run_gitwarden("health", "--run", cwd=repo.main).returncode == 0
    assert _runs(repo.main) == 2


def test_two_workers_on_one_tree_run_it_once_even_with_two_build_slots(tmp_path: Path) -> None:
    import threading

    repo = setup_repo(tmp_path, agents=("alpha", "beta"), extra="parallel = 2",
                      check="sleep 0.5; grep -qx ok status.txt")
    commits = {}
    for name, path in repo.agents.items():
        write(path, {"same.txt": "same\n"})
        commits[name] = commit_all(path, f"{name} adds the same file")
    assert commits["alpha"] != commits["beta"]  # two commits, one tree
    workers = [threading.Thread(target=health_service.on_agent_commit,
                                args=(Workspace.load(repo.main), name, None, commit))
               for name, commit in commits.items()]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with Store.open(Workspace.load(repo.main).repo) as store:
        verdicts = [health_state.verdicts_at(store, name, commit)[0]
                    for name, commit in commits.items()]
    assert [v.verdict for v in verdicts] == ["pass", "pass"]
    assert _runs(repo.main) == 1 and sorted(v.cached for v in verdicts) == [False, True]
