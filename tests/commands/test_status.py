"""`gitwarden status` imports only what it uses (issue 17: CLI start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.gitrepo import make_repo_with_agents

# Not needed for a status without [remote] printed as JSON.
NOT_FOR_STATUS = ("wcwidth", "psutil", "gitwarden.remote", "gitwarden.admin",
                  "gitwarden.checkpoints", "gitwarden.daemon", "gitwarden.landing",
                  "gitwarden.upkeep", "gitwarden.integrations", "apscheduler", "watchdog")


def test_status_json_imports_only_what_it_uses(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path / "r", ["alpha"])
    program = ("import sys\nfrom gitwarden.cli import main\n"
               "assert main(['status', '--json']) == 0\n"
               "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", program], cwd=repo.main,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert '"agents"' in result.stdout
    assert [m for m in result.stderr.splitlines() if m.startswith(NOT_FOR_STATUS)] == []
