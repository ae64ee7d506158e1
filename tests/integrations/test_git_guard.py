"""The git pre-commit / pre-push guards, installed next to a user's own hook."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitwarden.coordination.locks import acquire
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from tests.helpers.gitrepo import RepoWithAgents, git, make_repo_with_agents, run_gitwarden, write


@pytest.fixture()
def repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path, names=("alpha", "beta"))


def _commit(cwd: Path, *args: str, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(["git", "commit", "-q", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=False)


def _user_hook(hooks: Path, marker: Path) -> None:
    hooks.mkdir(parents=True, exist_ok=True)
    hook = hooks / "pre-commit"
    hook.write_text(f"#!/bin/sh\necho user-hook-ran >> '{marker}'\nexit 0\n")
    hook.chmod(0o755)


def test_pre_commit_guard_rejects_locked_file_and_keeps_user_hook(
        repo: RepoWithAgents, tmp_path: Path) -> None:
    common = locate_repo(repo.main).common_dir
    marker = tmp_path / "marker"
    _user_hook(common / "hooks", marker)
    installed = run_gitwarden("hooks", "install", "--git", cwd=repo.main)
    assert installed.returncode == 0, installed.stderr
    assert "chaining to your existing hook" in installed.stdout
    with Store.open(locate_repo(repo.main)) as store:
        assert acquire(store, "alpha", ["src/app.py"], ttl=600, reason="refactor").granted
    beta = repo.agents["beta"]
    write(beta, {"src/app.py": "print('beta')\n"})
    git(beta, "add", "src/app.py")
    refused = _commit(beta, "-m", "touch locked")
    assert refused.returncode != 0
    assert "locked by agent alpha" in refused.stderr
    # issue 12 case 1: the refusal does not teach an agent how to bypass it
    assert "BYPASS" not in refused.stderr
    assert marker.read_text().count("user-hook-ran") == 1
    # `git commit -a` stages into a temporary index: still refused
    assert _commit(beta, "-a", "-m", "again").returncode != 0
    # an unlocked file commits fine, and the user's hook ran every time
    git(beta, "reset", "-q")
    write(beta, {"notes.txt": "n\n"})
    git(beta, "add", "notes.txt")
    ok = _commit(beta, "-m", "notes")
    assert ok.returncode == 0, ok.stderr
    assert marker.read_text().count("user-hook-ran") == 3
    # the user's escape hatch is refused from an agent's tool (Claude Code's shell, or
    # GITWARDEN_AGENT set), and works and is logged from the user's
    git(beta, "add", "src/app.py")
    for agent_env in ({"CLAUDECODE": "1"}, {"GITWARDEN_AGENT": "beta"}):
        refused = _commit(beta, "-m", "forced", env={"GITWARDEN_BYPASS": "1", **agent_env})
        assert refused.returncode != 0 and "ask the user" in refused.stderr, refused.stderr
    bypass = _commit(beta, "-m", "forced", env={"GITWARDEN_BYPASS": "1"})
    assert bypass.returncode == 0, bypass.stderr
    with Store.open(locate_repo(repo.main)) as store:
        assert [e.agent for e in list_events(store, kinds=["guard.bypassed"])] == ["beta"]
        assert list_events(store, kinds=["guard.rejected"])
    # uninstall restores the user's own hook
    assert run_gitwarden("hooks", "uninstall", "--git", cwd=repo.main).returncode == 0
    assert "user-hook-ran" in (common / "hooks" / "pre-commit").read_text()
    assert not (common / "hooks" / "pre-commit.gitwarden-chained").exists()


def test_pre_push_guard_rejects_commits_touching_locked_files(
        repo: RepoWithAgents, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo.main, "remote", "add", "origin", str(remote))
    git(repo.main, "push", "-q", "origin", "main")
    assert run_gitwarden("hooks", "install", "--git", cwd=repo.main).returncode == 0
    beta = repo.agents["beta"]
    write(beta, {"src/app.py": "print('beta')\n"})
    git(beta, "commit", "-qam", "beta work")
    with Store.open(locate_repo(repo.main)) as store:
        assert acquire(store, "alpha", ["src/**"], ttl=600).granted
    push = subprocess.run(["git", "push", "-q", "origin", "beta"], cwd=beta,
                          capture_output=True, text=True, check=False)
    assert push.returncode != 0
    assert "push refused" in push.stderr and "src/app.py" in push.stderr


def test_hooks_path_is_respected(repo: RepoWithAgents, tmp_path: Path) -> None:
    shared = tmp_path / "shared-hooks"
    git(repo.main, "config", "core.hooksPath", str(shared))
    assert run_gitwarden("hooks", "install", "--git", cwd=repo.main).returncode == 0
    assert "gitwarden guard" in (shared / "pre-commit").read_text()
    git(repo.main, "config", "core.hooksPath", ".husky")
    relative = run_gitwarden("hooks", "install", "--git", cwd=repo.main)
    assert relative.returncode == 2 and "core.hooksPath is relative" in relative.stderr
    assert len(relative.stderr.strip().splitlines()) == 1
