"""`gitwarden init` and `gitwarden agent add/remove/list` on real repositories."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.helpers.gitrepo import git, make_repo, make_repo_with_agents, run_gitwarden, write


def test_init_writes_a_valid_commented_config(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["alpha", "beta"])
    proc = run_gitwarden("init", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    text = (repo.main / "gitwarden.toml").read_text()
    assert text.startswith("#")
    data = tomllib.loads(text)
    assert data["base"] == "main"
    assert set(data["agents"]) == {"alpha", "beta"}
    again = run_gitwarden("init", cwd=repo.main)
    assert again.returncode == 2 and "--force" in again.stderr
    assert run_gitwarden("init", "--force", "--base", "main", cwd=repo.main).returncode == 0
    assert run_gitwarden("status", cwd=repo.main).returncode == 0


def test_init_rejects_unknown_base(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    proc = run_gitwarden("init", "--base", "nope", cwd=main)
    assert proc.returncode == 2
    assert not (main / "gitwarden.toml").exists()


def test_agent_add_creates_worktree_branch_and_config(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    run_gitwarden("init", cwd=main)
    proc = run_gitwarden("agent", "add", "payments", "--scope", "src/payments/**",
                         "--task", "build payments", cwd=main)
    assert proc.returncode == 0, proc.stderr
    worktree = tmp_path / "repo-agents" / "payments"
    assert git(worktree, "branch", "--show-current").strip() == "agent/payments"
    config = tomllib.loads((main / "gitwarden.toml").read_text())
    assert config["agents"]["payments"]["scope"] == ["src/payments/**"]
    assert (main / "gitwarden.toml").read_text().startswith("#")  # comments kept
    listing = json.loads(run_gitwarden("agent", "list", "--json", cwd=main).stdout)
    assert [a["name"] for a in listing["agents"]] == ["payments"]
    assert listing["agents"][0]["scope"] == ["src/payments/**"]
    dup = run_gitwarden("agent", "add", "payments", cwd=main)
    assert dup.returncode == 2 and "already exists" in dup.stderr


def test_agent_add_with_custom_path_keeps_name(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    proc = run_gitwarden("agent", "add", "docs", "--path", str(tmp_path / "elsewhere"),
                         cwd=main)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(run_gitwarden("agent", "list", "--json", cwd=main).stdout)
    assert [(a["name"], a["path"]) for a in listing["agents"]] == \
        [("docs", str(tmp_path / "elsewhere"))]


def test_agent_add_bad_input(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    assert run_gitwarden("agent", "add", "../evil", cwd=main).returncode == 2
    bad_ref = run_gitwarden("agent", "add", "x", "--from", "nowhere", cwd=main)
    assert bad_ref.returncode == 2 and "--from" in bad_ref.stderr


def test_agent_remove_refuses_uncommitted_work(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["alpha"])
    write(repo.agents["alpha"], {"wip.txt": "precious\n"})
    proc = run_gitwarden("agent", "remove", "alpha", cwd=repo.main)
    assert proc.returncode == 2 and "uncommitted work" in proc.stderr
    assert (repo.agents["alpha"] / "wip.txt").read_text() == "precious\n"


def test_agent_remove_clean_worktree_keeps_branch(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["alpha", "beta"])
    proc = run_gitwarden("agent", "remove", "alpha", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert not repo.agents["alpha"].exists()
    assert git(repo.main, "branch", "--list", "alpha").strip()
    proc = run_gitwarden("agent", "remove", "beta", "--delete-branch", cwd=repo.main)
    assert proc.returncode == 0
    assert not git(repo.main, "branch", "--list", "beta").strip()


def test_agent_remove_missing_worktree(tmp_path: Path) -> None:
    import shutil

    repo = make_repo_with_agents(tmp_path, names=["alpha"])
    shutil.rmtree(repo.agents["alpha"])
    proc = run_gitwarden("agent", "remove", "alpha", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert "alpha" not in git(repo.main, "worktree", "list")


def test_agent_add_writes_context_files(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    proc = run_gitwarden("agent", "add", "docs", "--task", "write the docs", cwd=main)
    assert proc.returncode == 0, proc.stderr
    worktree = tmp_path / "repo-agents" / "docs"
    assert "write the docs" in (worktree / ".gitwarden" / "ASSIGNMENT.md").read_text()
    assert git(worktree, "status", "--porcelain").strip() == ""


def test_dotted_agent_name_round_trips_through_the_config(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    assert run_gitwarden("agent", "add", "my.agent", "--scope", "a/**", cwd=main).returncode == 0
    assert "my.agent" in tomllib.loads((main / "gitwarden.toml").read_text())["agents"]
    assert run_gitwarden("agent", "remove", "my.agent", "--delete-branch", cwd=main).returncode == 0
    assert "my.agent" not in tomllib.loads((main / "gitwarden.toml").read_text()).get("agents", {})
    again = run_gitwarden("agent", "add", "my.agent", cwd=main)
    assert again.returncode == 0, again.stderr
    assert run_gitwarden("status", cwd=main).returncode == 0


def test_delete_branch_refuses_unmerged_work_and_keeps_a_backup(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["alpha"])
    write(repo.agents["alpha"], {"important.txt": "work\n"})
    git(repo.agents["alpha"], "add", "-A")
    git(repo.agents["alpha"], "commit", "-qm", "work")
    tip = git(repo.agents["alpha"], "rev-parse", "HEAD").strip()
    refused = run_gitwarden("agent", "remove", "alpha", "--delete-branch", cwd=repo.main)
    assert refused.returncode == 2 and "1 commit(s)" in refused.stderr
    assert repo.agents["alpha"].exists()
    forced = run_gitwarden("agent", "remove", "alpha", "--delete-branch", "--force", cwd=repo.main)
    assert forced.returncode == 0, forced.stderr
    backups = git(repo.main, "for-each-ref", "--format=%(objectname) %(refname)",
                  "refs/gitwarden/backups/alpha/").splitlines()
    deleted = [line.split()[0] for line in backups if line.endswith("-deleted-branch")]
    assert deleted == [tip]
