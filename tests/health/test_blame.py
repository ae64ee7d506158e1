"""Who is to blame: the base, a merge, or a failure older than the agent's commits (real repos,
real check processes)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pauses import is_paused
from gitwarden.health import service as health_service
from gitwarden.health import table as health_state
from gitwarden.store.db import Store
from tests.helpers.gitrepo import commit_all, git, run_gitwarden, write
from tests.helpers.health_repo import agent_commits, events, head, setup_repo


def verdicts(alpha: Path, agent: str) -> list[health_state.Verdict]:
    with Store.open(Workspace.load(alpha).repo) as store:
        return health_state.latest_verdicts(store, agent)


def paused(path: Path, agent: str) -> bool:
    with Store.open(Workspace.load(path).repo) as store:
        return is_paused(store, agent)


def test_merging_a_broken_base_blames_the_base_not_the_agent(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert", agents=("alpha", "beta"))
    beta = repo.agents["beta"]
    (own,) = agent_commits(beta, {"beta.txt": "work\n"})
    health_service.on_agent_commit(Workspace.load(beta), "beta", None, own)
    assert [v.verdict for v in verdicts(beta, "beta")] == ["pass"]
    # the main worktree commits a failing change; beta merges the base in
    write(repo.main, {"status.txt": "broken by main\n"})
    broken_base = commit_all(repo.main, "main breaks the check")
    git(beta, "merge", "-q", "--no-edit", "main")
    merge = head(beta)
    assert len(git(beta, "rev-list", "--parents", "-n", "1", merge).split()) == 3

    health_service.on_agent_commit(Workspace.load(beta), "beta", own, merge)

    (verdict,) = verdicts(beta, "beta")
    assert verdict.verdict == "base-broken" and verdict.culprit is None
    assert verdict.commit == merge and "main" in verdict.detail
    # nothing was done to beta: not paused, no revert, the base's change is still there
    assert head(beta) == merge and not paused(beta, "beta")
    assert (beta / "status.txt").read_text() == "broken by main\n"
    with Store.open(Workspace.load(beta).repo) as store:
        assert health_state.reverts(store, "beta") == []
    assert events(repo, "health.culprit") == [] and events(repo, "health.revert") == []
    (event,) = events(repo, "health.base-broken")
    assert event["agent"] == "beta" and event["data"]["notify"] is True  # type: ignore[index]

    # main is fixed meanwhile, but the base commit beta merged in is still the broken one
    write(repo.main, {"status.txt": "ok\n"})
    commit_all(repo.main, "main fixes the check")
    write(beta, {"later.txt": "x\n"})
    later = commit_all(beta, "more beta work")
    health_service.on_agent_commit(Workspace.load(beta), "beta", merge, later)
    (verdict,) = verdicts(beta, "beta")
    assert verdict.verdict == "base-broken" and broken_base[:10] in verdict.detail
    assert head(beta) == later and not paused(beta, "beta")
    # told once per finding: the second report (same broken base commit) is only logged
    first, second = events(repo, "health.base-broken")[-2:]
    assert [e["data"].get("notify") for e in (first, second)] == [True, None]  # type: ignore


def test_a_merge_commit_is_never_reverted_automatically(tmp_path: Path) -> None:
    # each side passes alone; together (the merge) they fail
    check = "grep -qx ok status.txt && ! { test -e a.txt && test -e b.txt; }"
    repo = setup_repo(tmp_path, policy="revert", agents=("beta",), check=check)
    beta = repo.agents["beta"]
    (own,) = agent_commits(beta, {"a.txt": "a\n"})
    health_service.on_agent_commit(Workspace.load(beta), "beta", None, own)
    write(repo.main, {"b.txt": "b\n"})
    commit_all(repo.main, "main adds b")
    git(beta, "merge", "-q", "--no-edit", "main")
    merge = head(beta)

    health_service.on_agent_commit(Workspace.load(beta), "beta", own, merge)

    (verdict,) = verdicts(beta, "beta")
    assert verdict.verdict == "broken" and verdict.culprit == merge
    assert head(beta) == merge and (beta / "b.txt").exists()
    assert paused(beta, "beta")
    (refused,) = events(repo, "health.revert-refused")
    assert "merge commit" in str(refused["data"]["reason"])  # type: ignore[index]
    assert events(repo, "health.revert") == []


def test_a_new_check_failing_at_the_clean_point_blames_nobody(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="pause")
    alpha = repo.agents["alpha"]
    (legacy,) = agent_commits(alpha, {"legacy.txt": "old\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, legacy)
    assert [v.verdict for v in verdicts(alpha, "alpha")] == ["pass"]
    # a check added later that the agent's clean point already fails (the base passes it)
    config = (repo.main / "gitwarden.toml").read_text()
    write(repo.main, {"gitwarden.toml": config.replace(
        "[health.checks]\n", '[health.checks]\nlint = "test ! -e legacy.txt"\n')})
    commit_all(repo.main, "add a lint check")
    (later,) = agent_commits(alpha, {"other.txt": "new\n"})

    health_service.on_agent_commit(Workspace.load(alpha), "alpha", legacy, later)

    lint = {v.check: v for v in verdicts(alpha, "alpha")}["lint"]
    assert lint.verdict == "preexisting" and lint.culprit is None
    assert legacy[:10] in lint.detail
    # head, confirmation, the base head and the base commit alpha is based on (both pass), the
    # clean point (fails): no bisection
    assert lint.runs == 5
    assert not paused(alpha, "alpha") and events(repo, "health.culprit") == []
    assert len(events(repo, "health.preexisting")) == 1


def test_an_agents_own_breakage_is_still_blamed_after_the_base_passes(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="pause")
    alpha = repo.agents["alpha"]
    commits = agent_commits(alpha, {"f.txt": "1\n"}, {"status.txt": "no\n"}, {"g.txt": "2\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, commits[-1])
    (verdict,) = verdicts(alpha, "alpha")
    assert verdict.verdict == "broken" and verdict.culprit == commits[1]
    assert paused(alpha, "alpha")
    with Store.open(Workspace.load(alpha).repo) as store:
        assert health_state.count_runs(store, "alpha", trigger="verify") == 1


def test_status_counts_only_configured_checks_and_marks_old_results(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="notify")
    config = (repo.main / "gitwarden.toml").read_text()
    write(repo.main, {"gitwarden.toml": config.replace(
        "\n[agents.", 'lint = "test ! -e lint.txt"\n\n[agents.', 1)})
    commit_all(repo.main, "add a lint check")
    alpha = repo.agents["alpha"]
    git(alpha, "merge", "-q", "--ff-only", "main")
    (checked,) = agent_commits(alpha, {"lint.txt": "fails lint\n"})
    assert run_gitwarden("health", "--run", cwd=repo.main).returncode == 1
    # the lint check is removed: its old verdict must not count any more
    write(repo.main, {"gitwarden.toml": config})
    commit_all(repo.main, "drop the lint check")

    status = json.loads(run_gitwarden("status", "--json", cwd=repo.main).stdout)
    (entry,) = [a for a in status["agents"] if a["name"] == "alpha"]
    assert entry["health"] == "pass" and entry["health_checks"] == {"test": "pass"}
    assert entry["health_results"]["test"]["commit"] == checked
    assert entry["health_stale"] is False
    shown = json.loads(run_gitwarden("health", "--json", cwd=repo.main).stdout)
    assert [(r["check"], r["stale"]) for r in shown["results"]] == [("test", False)]

    # a newer commit nobody checked yet: no verdict is shown for it, the old commit's result
    # is only the `previous` one
    (newer,) = agent_commits(alpha, {"more.txt": "x\n"})
    shown = json.loads(run_gitwarden("health", "--json", cwd=repo.main).stdout)
    (result,) = shown["results"]
    assert (result["commit"], result["verdict"], result["stale"]) == (newer, "stale", True)
    assert result["previous"]["commit"] == checked
    fields = shown["agents"]["alpha"]
    assert fields["health_stale"] is True and fields["health"] == "stale"
    assert fields["health_results"]["test"] == {**fields["health_results"]["test"],
                                                "commit": newer, "verdict": "stale"}
    text = run_gitwarden("health", cwd=repo.main).stdout
    assert "stale" in text and f"previous: pass at {checked[:10]}" in text


def test_one_integration_failure_is_reported_once(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, agents=("alpha", "beta"), extra="integration = true",
                      check="! { test -e a.flag && test -e b.flag; }")
    (a,) = agent_commits(repo.agents["alpha"], {"a.flag": "a\n"})
    (b,) = agent_commits(repo.agents["beta"], {"b.flag": "b\n"})
    # both agents' commits are seen at once, by two daemon workers
    workers = [threading.Thread(target=health_service.on_agent_commit,
                                args=(Workspace.load(repo.main), name, None, commit))
               for name, commit in (("alpha", a), ("beta", b))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    health_service.on_agent_commit(Workspace.load(repo.main), "alpha", None, a)
    (event,) = events(repo, "health.integration")
    assert "alpha + beta" in str(event["message"])
    # new heads: a new finding, reported again
    (b2,) = agent_commits(repo.agents["beta"], {"b2.txt": "more\n"})
    health_service.on_agent_commit(Workspace.load(repo.main), "beta", b, b2)
    assert len(events(repo, "health.integration")) == 2
