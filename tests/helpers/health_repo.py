"""A repository with agents and health checks configured, and reading what the health service
recorded."""

from __future__ import annotations

import json
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from tests.helpers.gitrepo import (
    RepoWithAgents,
    commit_all,
    git,
    make_repo_with_agents,
    write,
)

CHECK = "grep -qx ok status.txt"


def setup_repo(tmp_path: Path, *, policy: str = "pause", agents: tuple[str, ...] = ("alpha",),
               check: str = CHECK, extra: str = "") -> RepoWithAgents:
    repo = make_repo_with_agents(tmp_path, agents, files={
        "status.txt": "ok\n", "README.md": "readme\n", "src/app.py": "print('hi')\n"})
    config = (f'[health]\nrevert_max_age = "400d"\n{extra}\n[health.checks]\n'
              f"test = {json.dumps(check)}\n")
    for name in agents:
        config += f'\n[agents.{name}]\npolicy = "{policy}"\n'
    write(repo.main, {"gitwarden.toml": config})
    commit_all(repo.main, "gitwarden config")
    for path in repo.agents.values():
        git(path, "merge", "-q", "--ff-only", "main")
    return repo


def agent_commits(path: Path, *changes: dict[str, str]) -> list[str]:
    commits = []
    for number, files in enumerate(changes):
        write(path, files)
        commits.append(commit_all(path, f"change {number}: {', '.join(files)}"))
    return commits


def events(repo: RepoWithAgents, kind: str) -> list[dict[str, object]]:
    with Store.open(Workspace.load(repo.main).repo) as store:
        return [e.as_json() for e in list_events(store, kinds=[kind])]


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()
