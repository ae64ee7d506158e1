"""The real daemon renders the agents' context files from what it holds in memory, byte for
byte what the CLI renders from git."""

from __future__ import annotations

from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.store.db import Store
from gitwarden.views.context_refresh import refresh_context_files
from tests.helpers.daemon_state import BASE, FAST
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import git, make_repo_with_agents, write


def test_context_files_from_the_daemon_match_those_read_from_git(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"),
                                 files={"src/app.py": BASE, "docs/a.md": "a\n"})
    write(repo.main, {"gitwarden.toml": FAST})
    daemon = DaemonProcess(repo.main)
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    state_md = beta / ".gitwarden" / "STATE.md"
    try:
        write(beta, {"docs/a.md": "committed by beta\n"})
        git(beta, "commit", "-qam", "beta's commit")
        write(alpha, {"src/app.py": BASE.replace("line 3\n", "alpha\n"), "new.txt": "untracked\n"})
        write(beta, {"src/app.py": BASE.replace("line 20\n", "beta\n")})
        write(repo.main, {"main.txt": "the base moves\n"})
        git(repo.main, "add", "main.txt")
        git(repo.main, "commit", "-qm", "base commit")

        def shown() -> str | None:
            text = state_md.read_text() if state_md.exists() else ""
            wanted = ("`src/app.py`: alpha, beta", "new.txt", "docs/a.md", "behind")
            return text if all(w in text for w in wanted) else None

        state = wait_until(shown, 20, "STATE.md does not show the daemon's view", daemon)
        daemon.request("flush")
        workspace = Workspace.load(repo.main)
        with Store.open(workspace.repo) as store:
            # rendered again from git: the same bytes, nothing to rewrite
            assert refresh_context_files(workspace, store) == []
        assert state_md.read_text() == state
        assert "1 commit(s) behind" in state
    finally:
        assert daemon.stop() == 0
