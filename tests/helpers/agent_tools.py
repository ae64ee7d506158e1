"""A repository with two agents set up for agent-tool hook tests, and running the hook
command an agent tool's installed settings name, exactly as the tool would (`sh -c`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from gitwarden.coordination.locks import acquire
from gitwarden.coordination.pauses import pause_agent
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from tests.helpers.gitrepo import RepoWithAgents, make_repo_with_agents, run_gitwarden

FILES = {"README.md": "hi\n", "src/app.py": "x\n", "src/util.py": "u\n",
         "docs/guide.md": "g\n"}


def hooked_repo(tmp_path: Path, flag: str) -> RepoWithAgents:
    """alpha and beta; alpha locks src/app.py; beta's scope is src/** and docs/**; the hooks
    of one tool (`flag`, e.g. "--codex") installed by `gitwarden hooks install`."""
    made = make_repo_with_agents(tmp_path, names=("alpha", "beta"), files=FILES)
    (made.main / "gitwarden.toml").write_text(
        '[agents.beta]\nscope = ["src/**", "docs/**"]\ntask = "write the refund flow"\n')
    with Store.open(locate_repo(made.main)) as store:
        assert acquire(store, "alpha", ["src/app.py"], ttl=1800, reason="refund flow").granted
    installed = run_gitwarden("hooks", "install", flag, cwd=made.main)
    assert installed.returncode == 0, installed.stderr
    return made


def pause(repo: RepoWithAgents, agent: str, reason: str) -> None:
    with Store.open(locate_repo(repo.main)) as store:
        pause_agent(store, agent, reason, "health")


def installed_command(settings: Path, event: str) -> str:
    """The command gitwarden installed for `event` in a hooks settings file."""
    data = json.loads(settings.read_text())
    commands = [hook["command"] for entry in data["hooks"][event] for hook in entry["hooks"]
                if "gitwarden" in hook["command"]]
    assert len(commands) == 1, commands
    return str(commands[0])


def run_hook(command: str, cwd: Path, payload: dict[str, Any],
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a hook command the way agent tools do: through `sh -c`, JSON on stdin, in cwd."""
    return subprocess.run(["sh", "-c", command], input=json.dumps(payload), cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
