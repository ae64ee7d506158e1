"""Texts for agents name gitwarden by a command their shell can run: the bare name only when
PATH finds this installation, else the installed entry point's absolute path."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from gitwarden.invocation import entry_point, gitwarden_command
from gitwarden.views.context_files import AgentSummary, render_assignment
from tests.helpers.agent_tools import hooked_repo, installed_command, run_hook


def test_bare_name_only_when_path_finds_this_installation(tmp_path: Path) -> None:
    installed = entry_point()
    assert installed is not None, "tests run from an installed gitwarden"
    assert gitwarden_command(os.path.dirname(installed)) == "gitwarden"
    assert gitwarden_command("/usr/bin:/bin") == shlex.quote(installed)
    other = tmp_path / "gitwarden"  # a different gitwarden earlier on PATH
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert gitwarden_command(f"{tmp_path}:{os.path.dirname(installed)}") == \
        shlex.quote(installed)


def test_assignment_names_the_command_that_works() -> None:
    agent = AgentSummary(name="beta", branch="agent/beta", path="/w/beta")
    text = render_assignment(agent, "main", gitwarden="/opt/gw/bin/gitwarden")
    assert "`/opt/gw/bin/gitwarden lock PATH_OR_GLOB" in text
    assert "`/opt/gw/bin/gitwarden inbox`" in text and "not on your PATH" in text
    assert "`gitwarden " not in text


def test_deny_reason_from_a_shell_without_gitwarden_on_path(tmp_path: Path) -> None:
    repo = hooked_repo(tmp_path, "--claude")
    beta = repo.agents["beta"]
    payload = {"session_id": "s", "cwd": str(beta), "hook_event_name": "PreToolUse",
               "tool_name": "Edit", "tool_input": {"file_path": str(beta / "src/app.py")}}
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    env.pop("GITWARDEN_AGENT", None)
    result = run_hook(installed_command(beta / ".claude/settings.local.json", "PreToolUse"),
                      beta, payload, env=env)
    reason = json.loads(result.stdout)["hookSpecificOutput"]["permissionDecisionReason"]
    script = Path(sys.executable).with_name("gitwarden")
    assert f"`{shlex.quote(str(script))} lock src/app.py --wait 10m`" in reason
