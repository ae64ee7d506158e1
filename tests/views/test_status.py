"""`gitwarden status` against the real git CLI on real worktrees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers.gitrepo import commit_all, git, make_repo_with_agents, run_gitwarden, write


def _git_changed(worktree: Path, base: str = "main") -> list[str]:
    """The changed set computed independently with plain git commands."""
    merge_base = git(worktree, "merge-base", base, "HEAD").strip()
    committed = git(worktree, "diff", "--name-only", merge_base, "HEAD").splitlines()
    staged = git(worktree, "diff", "--name-only", "--cached").splitlines()
    unstaged = git(worktree, "diff", "--name-only").splitlines()
    untracked = git(worktree, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted(set(committed) | set(staged) | set(unstaged) | set(untracked))


def test_status_json_matches_git_for_three_agents(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, files={
        "README.md": "hello\n", "src/app.py": "app\n", "src/util.py": "util\n",
        ".gitignore": "build/\n",
    })
    alpha, beta, gamma = (repo.agents[n] for n in ("alpha", "beta", "gamma"))
    write(alpha, {"src/app.py": "alpha edit\n"})
    commit_all(alpha, "alpha commit")
    write(alpha, {"notes/new file.md": "untracked\n", "build/out.o": "ignored\n"})
    write(beta, {"src/app.py": "beta edit\n", "src/util.py": "staged\n"})
    git(beta, "add", "src/util.py")
    git(gamma, "rm", "-q", "README.md")

    proc = run_gitwarden("status", "--json", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    agents = {a["name"]: a for a in report["agents"]}
    assert set(agents) == {"alpha", "beta", "gamma"}
    for name, path in repo.agents.items():
        entry = agents[name]
        assert entry["path"] == str(path)
        assert entry["branch"] == git(path, "branch", "--show-current").strip()
        assert entry["head"] == git(path, "rev-parse", "HEAD").strip()
        assert entry["changed"] == _git_changed(path)
    assert agents["alpha"]["ahead"] == 1
    assert "build/out.o" not in agents["alpha"]["changed"]
    assert report["overlaps"] == [{"path": "src/app.py", "agents": ["alpha", "beta"]}]
    assert report["daemon"] == {"running": False, "pid": None}
    assert report["kill_switch"] is None
    assert all(a["paused"] is False and a["health"] == "unknown" for a in report["agents"])


def test_status_works_from_inside_a_linked_worktree(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["one", "two"])
    subdir = repo.agents["two"] / "src"
    proc = run_gitwarden("status", "--json", cwd=subdir)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [a["name"] for a in report["agents"]] == ["one", "two"]
    assert report["main_worktree"] == str(repo.main)


def test_status_survives_a_deleted_worktree(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path)
    shutil.rmtree(repo.agents["beta"])
    proc = run_gitwarden("status", "--json", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    agents = {a["name"]: a for a in json.loads(proc.stdout)["agents"]}
    assert agents["beta"]["state"] == "missing"
    assert agents["alpha"]["state"] == "ok"
    human = run_gitwarden("status", cwd=repo.main)
    assert human.returncode == 0
    assert "missing" in human.stdout
    assert "\x1b[" not in human.stdout  # no color when not a TTY


def test_status_detached_head_and_single_agent(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["solo"])
    git(repo.agents["solo"], "checkout", "-q", "--detach")
    proc = run_gitwarden("status", "solo", "--json", cwd=repo.main)
    agent = json.loads(proc.stdout)["agents"][0]
    assert agent["branch"] is None and agent["detached"] is True
    assert agent["state"] == "detached"


def test_unknown_agent_is_a_usage_error(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["solo"])
    proc = run_gitwarden("status", "nobody", cwd=repo.main)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "gitwarden: error: unknown agent 'nobody' (agents: solo)"


def test_config_renames_and_excludes_agents(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["wt1", "wt2"])
    write(repo.main, {"gitwarden.toml": (
        'base = "main"\n[agents.payments]\npath = "../wt1"\nscope = ["src/**"]\n'
        '[agents.wt2]\nexclude = true\n')})
    report = json.loads(run_gitwarden("status", "--json", cwd=repo.main).stdout)
    assert [(a["name"], a["scope"]) for a in report["agents"]] == [("payments", ["src/**"])]


def test_unicode_and_odd_file_names(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["a", "b"])
    odd = "dir with space/naïve \"quoted\"\tname.txt"
    for path in repo.agents.values():
        write(path, {odd: "x\n"})
    report = json.loads(run_gitwarden("status", "--json", cwd=repo.main).stdout)
    assert report["overlaps"] == [{"path": odd, "agents": ["a", "b"]}]


def test_bare_repository_with_linked_worktrees(tmp_path: Path) -> None:
    """The layout `git clone --bare R .bare` + `git worktree add` for every checkout."""
    source = make_repo_with_agents(tmp_path / "src", names=[]).main
    bare = tmp_path / "proj" / ".bare"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(bare))
    git(bare, "worktree", "add", "-q", "../main", "main")
    git(bare, "worktree", "add", "-q", "-b", "feat", "../feat", "main")
    write(tmp_path / "proj" / "feat", {"new.txt": "x\n"})
    proc = run_gitwarden("status", "--json", cwd=tmp_path / "proj" / "feat")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["base"]["branch"] == "main"
    assert report["main_worktree"] == str(tmp_path / "proj" / "main")
    assert [(a["name"], a["changed"]) for a in report["agents"]] == [("feat", ["new.txt"])]
    init = run_gitwarden("init", cwd=tmp_path / "proj" / "main")  # a user command
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "proj" / "main" / "gitwarden.toml").exists()


def test_status_shows_paused_done_locks_and_kill_switch(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["a", "b", "c"])
    assert run_gitwarden("pause", "a", "--reason", "review", cwd=repo.main).returncode == 0
    assert run_gitwarden("done", "b", "-m", "finished", cwd=repo.main).returncode == 0
    assert run_gitwarden("lock", "src/app.py", "--agent", "c", cwd=repo.main).returncode == 0
    agents = {a["name"]: a for a in
              json.loads(run_gitwarden("status", "--json", cwd=repo.main).stdout)["agents"]}
    assert (agents["a"]["state"], agents["a"]["paused"], agents["a"]["pause_reason"]) == \
        ("paused", True, "review")
    assert agents["b"]["state"] == "done" and agents["b"]["done"]["summary"] == "finished"
    assert agents["c"]["locks"] == ["src/app.py"]
    assert run_gitwarden("stop", "--reason", "lunch", cwd=repo.main).returncode == 0
    report = json.loads(run_gitwarden("status", "--json", cwd=repo.main).stdout)
    assert report["kill_switch"]["reason"] == "lunch"
    assert all(a["paused"] for a in report["agents"])
    assert "KILL SWITCH ENGAGED" in run_gitwarden("status", cwd=repo.main).stdout


def test_status_json_reports_the_state_size(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ["alpha"])
    state = json.loads(run_gitwarden("status", "--json", cwd=repo.main).stdout)["state"]
    assert state["path"].endswith("state.db")
    run_gitwarden("request", "--to", "alpha", "hello", cwd=repo.main)
    state = json.loads(run_gitwarden("status", "--json", cwd=repo.main).stdout)["state"]
    assert state["bytes"] == state["database"] + state["wal"] > 0
    assert state["rows"]["requests"] == 1
