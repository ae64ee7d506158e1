"""The optional pre-receive guard, installed in the real served bare repository: pushes to an
agent branch that change a path another agent locked are refused; others pass."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from gitwarden.remote import claims
from tests.helpers.git_server import commit_on, git_server
from tests.helpers.gitrepo import git


def install_hook(bare: Path) -> None:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m gitwarden server-hook pre-receive\n")
    hook.chmod(0o755)


def test_push_changing_a_path_locked_by_another_agent_is_refused(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        install_hook(server.bare())
        holder = tmp_path / "holder"
        git(tmp_path, "clone", "-q", server.url(), str(holder))
        pusher = tmp_path / "pusher"
        git(tmp_path, "clone", "-q", server.url(), str(pusher))
        git(pusher, "checkout", "-q", "-b", "agent/beta")
        taken = claims.claim(holder, "origin", machine="m1", agent="alpha",
                             patterns=["src/**"], reason="refactor",
                             expires_at=time.time() + 600)
        assert taken.granted
        commit_on(pusher, {"docs/a.md": "a\n"}, "docs only")
        assert git(pusher, "push", "-q", "origin", "agent/beta", check=False) == ""
        assert git(server.bare(), "rev-parse", "agent/beta").strip() == \
            git(pusher, "rev-parse", "HEAD").strip()
        commit_on(pusher, {"src/app.py": "beta\n"}, "touches a locked path")
        proc = subprocess.run(["git", "push", "origin", "agent/beta"], cwd=pusher,
                              capture_output=True, text=True, check=False)
        assert proc.returncode != 0
        assert "src/app.py is locked by alpha@m1 via 'src/**' (refactor)" in proc.stderr
        assert git(server.bare(), "rev-parse", "agent/beta").strip() != \
            git(pusher, "rev-parse", "HEAD").strip()
        # The holder's own branch may change its locked paths.
        git(holder, "checkout", "-q", "-b", "agent/alpha")
        commit_on(holder, {"src/app.py": "alpha\n"}, "holder edits")
        git(holder, "push", "-q", "origin", "agent/alpha")
        # Released: the refused push goes through.
        ref = next(iter(claims.remote_locks(holder, "origin"))).ref
        assert claims.release(holder, "origin", {ref: taken.commits["src/**"]}) == [ref]
        git(pusher, "push", "-q", "origin", "agent/beta")
        # Pushes to the user's other branches are not the guard's business.
        claims.claim(holder, "origin", machine="m1", agent="alpha", patterns=["src/**"],
                     expires_at=None)
        git(pusher, "checkout", "-q", "-b", "feature")
        commit_on(pusher, {"src/app.py": "feature\n"})
        git(pusher, "push", "-q", "origin", "feature")
