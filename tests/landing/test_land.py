"""`gitwarden land` on real repositories with real health checks in the scratch worktree: the
base advances by compare-and-swap and the main worktree follows; a breaking agent is ejected
with the culprit named while the others land; a base that moves during the landing causes a
retry, never a lost commit; every refusal is one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.health import table as health_table
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

CHECK = "grep -qx ok status.txt"


def _repo(tmp_path: Path, names: tuple[str, ...] = ("a", "b"), check: str = CHECK,
          extra: str = "") -> RepoWithAgents:
    repo = make_repo_with_agents(tmp_path, names, files={"status.txt": "ok\n",
                                                          "f.txt": "one\ntwo\nthree\n"})
    write(repo.main, {"gitwarden.toml": f"{extra}[health]\non_commit = false\n"
                                        f"[health.checks]\ntest = {json.dumps(check)}\n"})
    commit_all(repo.main, "config")
    for path in repo.agents.values():
        git(path, "merge", "-q", "--ff-only", "main")
    return repo


def _events(repo: RepoWithAgents, kind: str) -> list[dict[str, object]]:
    with Store.open(Workspace.load(repo.main).repo) as store:
        return [e.as_json() for e in list_events(store, kinds=[kind])]


def _head(path: Path, rev: str = "HEAD") -> str:
    return git(path, "rev-parse", rev).strip()


def test_land_two_passing_agents_advances_the_base_and_the_main_worktree(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write(repo.agents["a"], {"a.txt": "from a\n"})
    a_head = commit_all(repo.agents["a"], "a work")
    write(repo.agents["b"], {"b.txt": "from b\n"})
    b_head = commit_all(repo.agents["b"], "b work")
    old_base = _head(repo.main)
    agents_before = {n: agent_files(p) for n, p in repo.agents.items()}

    dry = run_gitwarden("land", "a", "b", "--dry-run", cwd=repo.main)
    assert dry.returncode == 0, dry.stderr
    assert "in order: a, b" in dry.stdout and _head(repo.main) == old_base

    proc = run_gitwarden("land", "a", "b", "--json", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["landed"] == ["a", "b"] and report["ejected"] == {}
    assert report["base"] == {"from": old_base, "to": _head(repo.main, "main")}
    assert report["health_runs"] == 1 and report["main_worktree"] == "updated"
    new_base = _head(repo.main, "main")
    for head in (a_head, b_head):
        assert "main" in git(repo.main, "branch", "--contains", head,
                             "--format=%(refname:short)").split()
    assert git(repo.main, "rev-parse", f"{new_base}^1^1").strip() == old_base
    # compare-and-swap from the old base, by gitwarden
    reflog = git(repo.main, "reflog", "-1", "--format=%gs", "refs/heads/main").strip()
    assert reflog == "gitwarden land: a, b"
    # the main worktree followed: files there, nothing staged or modified
    assert (repo.main / "a.txt").read_text() == "from a\n"
    assert (repo.main / "b.txt").read_text() == "from b\n"
    assert git(repo.main, "status", "--porcelain", "--untracked-files=no") == ""
    assert {n: agent_files(p) for n, p in repo.agents.items()} == agents_before
    queue = json.loads(run_gitwarden("queue", "--json", cwd=repo.main).stdout)["queue"]
    assert [(e["agent"], e["state"]) for e in queue] == [("a", "landed"), ("b", "landed")]


def test_a_breaking_agent_is_ejected_with_the_culprit_named_and_the_rest_lands(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path, ("a", "b", "c"))
    write(repo.agents["a"], {"a.txt": "from a\n"})
    commit_all(repo.agents["a"], "a work")
    write(repo.agents["b"], {"status.txt": "broken\n"})
    b_head = commit_all(repo.agents["b"], "b breaks the check")
    write(repo.agents["c"], {"c.txt": "from c\n"})
    commit_all(repo.agents["c"], "c work")
    proc = run_gitwarden("land", "a", "b", "c", "--json", cwd=repo.main)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["landed"] == ["a", "c"]
    assert list(report["ejected"]) == ["b"]
    assert "test fails once b is added" in report["ejected"]["b"]
    base = _head(repo.main, "main")
    assert (repo.main / "status.txt").read_text() == "ok\n"
    assert git(repo.main, "branch", "--contains", b_head,
               "--format=%(refname:short)").split() == ["b"]  # not in the base
    assert base != b_head
    ejected = _events(repo, "land.ejected")
    assert len(ejected) == 1 and ejected[0]["agent"] == "b"
    data = ejected[0]["data"]
    assert isinstance(data, dict) and data["notify"] and Path(str(data["log"])).is_file()
    queue = json.loads(run_gitwarden("queue", "--json", cwd=repo.main).stdout)["queue"]
    assert {e["agent"]: e["state"] for e in queue} == {"a": "landed", "b": "ejected",
                                                       "c": "landed"}
    table = run_gitwarden("queue", cwd=repo.main).stdout
    assert "ejected" in table and "test fails once b is added" in table


def test_a_base_moving_during_the_landing_causes_a_retry_not_a_lost_commit(
        tmp_path: Path) -> None:
    marker = tmp_path / "moved-once"
    # The check itself moves the base the first time it runs: a commit lands on main while
    # the candidate is being checked.
    check = (f"if [ ! -e {marker} ]; then touch {marker}; "
             f"git -C {tmp_path / 'repo'} commit -q --allow-empty -m 'meanwhile'; fi; "
             "grep -qx ok status.txt")
    repo = _repo(tmp_path, ("a",), check=check)
    write(repo.agents["a"], {"a.txt": "from a\n"})
    commit_all(repo.agents["a"], "a work")
    proc = run_gitwarden("land", "a", "--json", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["landed"] == ["a"] and report["retries"] == 1
    assert report["health_runs"] == 2
    meanwhile = git(repo.main, "log", "--format=%H %s", "main").splitlines()
    assert any(line.endswith(" meanwhile") for line in meanwhile)  # not lost
    assert (repo.main / "a.txt").read_text() == "from a\n"
    assert git(repo.main, "status", "--porcelain", "--untracked-files=no") == ""
    assert len(_events(repo, "land.retried")) == 1


def test_every_refusal_is_one_line(tmp_path: Path) -> None:
    repo = _repo(tmp_path, ("paused", "dirty", "rebasing", "broken", "empty", "ok"))
    for name in ("paused", "dirty", "rebasing", "broken", "ok"):
        write(repo.agents[name], {f"{name}.txt": f"{name}\n"})
        commit_all(repo.agents[name], name)
    assert run_gitwarden("pause", "paused", cwd=repo.main).returncode == 0
    write(repo.agents["dirty"], {"wip.txt": "not committed\n"})
    rebasing = repo.agents["rebasing"]
    write(rebasing, {"f.txt": "mine\n"})
    commit_all(rebasing, "conflicting")
    git(rebasing, "checkout", "-q", "-b", "other", "HEAD~1")
    write(rebasing, {"f.txt": "theirs\n"})
    commit_all(rebasing, "theirs")
    git(rebasing, "checkout", "-q", "rebasing")
    git(rebasing, "rebase", "-q", "other", check=False)
    workspace = Workspace.load(repo.main)
    with Store.open(workspace.repo) as store:
        health_table.record_verdict(store, agent="broken", check="test", trigger="commit",
                                    commit=_head(repo.agents["broken"]), verdict="broken")
    expected = {"paused": "is paused", "dirty": "uncommitted file(s)",
                "rebasing": "in the middle of a rebase", "broken": "is broken",
                "empty": "nothing to land"}
    for name, words in expected.items():
        proc = run_gitwarden("land", name, cwd=repo.main)
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and words in proc.stderr, (name, proc.stderr)
    assert len(_events(repo, "land.refused")) == len(expected)
    # a dirty main worktree with the base checked out refuses the whole landing
    write(repo.main, {"f.txt": "user edit\n"})
    proc = run_gitwarden("land", "ok", cwd=repo.main)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "main worktree" in proc.stderr and "uncommitted changes (f.txt)" in proc.stderr
    git(repo.main, "checkout", "--", "f.txt")
    # so does an untracked file of the main worktree the landing would overwrite
    write(repo.main, {"ok.txt": "the user's own file\n"})
    base = _head(repo.main)
    proc = run_gitwarden("land", "ok", cwd=repo.main)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "untracked files the landing would overwrite (ok.txt)" in proc.stderr
    assert _head(repo.main) == base and (repo.main / "ok.txt").read_text().startswith("the user")
    (repo.main / "ok.txt").unlink()
    # land is the user's: an agent cannot land anyone
    proc = run_gitwarden("land", "ok", cwd=repo.agents["ok"])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    proc = run_gitwarden("land", "nobody", cwd=repo.main)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_include_uncommitted_commits_a_checkpoint_backed_snapshot_first(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path, ("a",))
    a = repo.agents["a"]
    write(a, {"f.txt": "one\ntwo\nchanged\n", "new.txt": "untracked\n"})
    files = agent_files(a)
    old_head = _head(a)
    proc = run_gitwarden("land", "a", "--include-uncommitted", "--strategy", "squash",
                         cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert (repo.main / "new.txt").read_text() == "untracked\n"
    assert git(repo.main, "rev-list", "--count", "HEAD^!").strip() == "1"  # squashed
    assert agent_files(a) == files
    assert git(a, "status", "--porcelain") == ""
    assert _head(a, "HEAD^") == old_head
    snapshot = _events(repo, "land.snapshot")[0]["data"]
    assert isinstance(snapshot, dict) and _head(a, str(snapshot["backup_ref"])) == old_head


def test_land_no_wait_only_queues(tmp_path: Path) -> None:
    repo = _repo(tmp_path, ("a",))
    write(repo.agents["a"], {"a.txt": "a\n"})
    commit_all(repo.agents["a"], "a")
    base = _head(repo.main)
    proc = run_gitwarden("land", "a", "--no-wait", cwd=repo.main)
    assert proc.returncode == 0 and "queued a" in proc.stdout
    assert _head(repo.main) == base
    queue = json.loads(run_gitwarden("queue", "--json", cwd=repo.main).stdout)["queue"]
    assert [(e["agent"], e["state"]) for e in queue] == [("a", "queued")]
    assert os.path.exists(repo.main / ".git" / "gitwarden" / "state.db")


def test_after_a_landing_agents_now_conflicting_with_the_base_are_told(tmp_path: Path) -> None:
    repo = _repo(tmp_path, ("a", "d"))
    write(repo.agents["a"], {"f.txt": "one\nTWO from a\nthree\n"})
    commit_all(repo.agents["a"], "a changes two")
    write(repo.agents["d"], {"f.txt": "one\ntwo from d, uncommitted\nthree\n"})
    proc = run_gitwarden("land", "a", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert "d now conflicts with the base: gitwarden sync d" in proc.stdout
    told = _events(repo, "base.conflict")
    assert [e["agent"] for e in told] == ["d"]
    data = told[0]["data"]
    assert isinstance(data, dict) and data["notify"]
    assert "gitwarden sync d" in str(told[0]["message"])
    state = (repo.agents["d"] / ".gitwarden" / "STATE.md").read_text()
    assert "CONFLICTS with the base in `f.txt`" in state


def test_rebase_strategy_lands_a_linear_history(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    for name in ("a", "b"):
        for number in range(2):
            write(repo.agents[name], {f"{name}{number}.txt": f"{name} {number}\n"})
            commit_all(repo.agents[name], f"{name} {number}")
    old_base = _head(repo.main)
    proc = run_gitwarden("land", "a", "b", "--strategy", "rebase", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    subjects = git(repo.main, "log", "--format=%s", f"{old_base}..main").split("\n")
    assert subjects[:4] == ["b 1", "b 0", "a 1", "a 0"]
    assert git(repo.main, "rev-list", "--merges", f"{old_base}..main") == ""
    assert sorted(p.name for p in repo.main.glob("[ab]?.txt")) == ["a0.txt", "a1.txt",
                                                                  "b0.txt", "b1.txt"]



def test_the_last_agent_is_blamed_only_after_a_re_run(tmp_path: Path) -> None:
    marker = tmp_path / "failed-once"
    # Fails the first time it sees b's file, passes afterwards: a flaky check.
    check = (f"if [ -e b.txt ] && [ ! -e {marker} ]; then touch {marker}; exit 1; fi; "
             "grep -qx ok status.txt")
    repo = _repo(tmp_path, ("a", "b"), check=check)
    for name in ("a", "b"):
        write(repo.agents[name], {f"{name}.txt": name})
        commit_all(repo.agents[name], name)
    report = json.loads(run_gitwarden("land", "a", "b", "--json", cwd=repo.main).stdout)
    assert report["landed"] == ["a"]
    assert report["ejected"]["b"].startswith("flaky: test failed once b was added")
    assert report["health_runs"] == 3  # a+b fails, a passes, a+b re-run passes: flaky


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_a_land_dry_run_leaves_no_object_behind(tmp_path: Path, strategy: str) -> None:
    """The candidate a dry run shows is built in quarantine: none of it stays behind."""
    repo = _repo(tmp_path)
    write(repo.agents["a"], {"a.txt": "from a\n"})
    commit_all(repo.agents["a"], "a work")
    write(repo.agents["b"], {"b.txt": "from b\n"})
    commit_all(repo.agents["b"], "b work")
    write(repo.main, {"f.txt": "one\ntwo\nthree base\n"})
    commit_all(repo.main, "the base moves on")
    loose, unreachable = loose_objects(repo.main), unreachable_objects(repo.main)
    dry = run_gitwarden("land", "a", "b", "--strategy", strategy, "--dry-run", "--json",
                        cwd=repo.main)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["candidate"] and plan["conflicts"] == {}
    assert unreachable_objects(repo.main) == unreachable
    assert loose_objects(repo.main) == loose
