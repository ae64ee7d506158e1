"""`gitwarden checkpoint` starts `git status` before the heavy imports and loads only what a
checkpoint uses (issue 17: CLI start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.gitrepo import RepoWithAgents, git, make_repo_with_agents, write

# Modules a checkpoint never needs: other commands' machinery and the table renderer.
NOT_FOR_A_CHECKPOINT = ("wcwidth", "psutil", "gitwarden.admin", "gitwarden.checkpoints.rollback",
                        "gitwarden.checkpoints.transaction", "gitwarden.health",
                        "gitwarden.upkeep", "gitwarden.views", "gitwarden.landing",
                        "gitwarden.remote", "gitwarden.coordination", "gitwarden.overlaps",
                        "gitwarden.daemon", "gitwarden.integrations.claude_hook", "apscheduler",
                        "watchdog")


@pytest.fixture
def repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path / "r", ["alpha"])


def _loaded_after(code: str, cwd: Path) -> tuple[list[str], str]:
    program = ("import sys\n" + code +
               "\nprint('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", program], cwd=cwd, capture_output=True,
                            text=True, check=False)
    return result.stderr.splitlines(), result.stdout


def test_checkpoint_imports_only_what_it_uses(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    write(alpha, {"new.txt": "new\n"})
    loaded, out = _loaded_after(
        "from gitwarden.cli import main\nassert main(['checkpoint', 'alpha']) == 0", alpha)
    assert out.startswith("alpha: ")
    heavy = [m for m in loaded if m.startswith(NOT_FOR_A_CHECKPOINT)]
    assert heavy == []
    assert git(alpha, "rev-parse", "refs/gitwarden/checkpoints/alpha").strip() in out


def test_the_command_module_loads_without_pygit2(repo: RepoWithAgents) -> None:
    # What runs before `git status` starts: the parser and the command module only.
    loaded, _ = _loaded_after("from gitwarden.commands import build_parser\n"
                              "build_parser('checkpoint')", repo.main)
    assert "gitwarden.commands.checkpoint" in loaded
    assert [m for m in loaded if m.split(".")[0] == "pygit2"
            or m.startswith(("gitwarden.agents", "gitwarden.config", "gitwarden.checkpoints",
                             "gitwarden.store"))] == []
