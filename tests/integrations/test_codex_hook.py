"""The Codex CLI hook as Codex runs it: the command `gitwarden hooks install --codex` wrote to
`.codex/hooks.json`, fed the JSON Codex sends.

Payload shapes from the Codex hooks documentation, https://developers.openai.com/codex/hooks
(page of 2026-05-22, codex-cli 0.125-0.137): common fields session_id, transcript_path, cwd,
hook_event_name, model, permission_mode, turn_id; PreToolUse adds tool_name, tool_use_id,
tool_input, where Bash and apply_patch both carry `tool_input.command` (the shell command, or
the raw patch envelope of codex-rs/apply-patch/apply_patch_tool_instructions.md). A deny is
`hookSpecificOutput.permissionDecision = "deny"` with exit 0; Stop must always print JSON.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.agent_tools import hooked_repo, installed_command, pause, run_hook
from tests.helpers.gitrepo import RepoWithAgents, run_gitwarden

SETTINGS = Path(".codex") / "hooks.json"


@pytest.fixture()
def repo(tmp_path: Path) -> RepoWithAgents:
    return hooked_repo(tmp_path, "--codex")


def _call(repo: RepoWithAgents, tool: str, command: str, event: str = "PreToolUse",
          **extra: Any) -> subprocess.CompletedProcess[str]:
    beta = repo.agents["beta"]
    payload = {"session_id": "019a-sess", "transcript_path": None, "cwd": str(beta),
               "hook_event_name": event, "model": "gpt-5-codex", "permission_mode": "default",
               "turn_id": "turn-1", "tool_name": tool, "tool_use_id": "call_abc",
               "tool_input": {"command": command}, **extra}
    return run_hook(installed_command(beta / SETTINGS, event), beta, payload)


def _deny(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)["hookSpecificOutput"]
    assert output["hookEventName"] == "PreToolUse"
    assert output["permissionDecision"] == "deny"
    return str(output["permissionDecisionReason"])


def _allowed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0 and result.stdout == "", (result.stdout, result.stderr)


def _patch(*sections: str) -> str:
    return "*** Begin Patch\n" + "".join(sections) + "*** End Patch\n"


UPDATE_UTIL = "*** Update File: src/util.py\n@@\n-u\n+v\n"
UPDATE_APP = "*** Update File: src/app.py\n@@\n-x\n+y\n"


def test_apply_patch_touching_two_files_one_locked_is_denied(repo: RepoWithAgents) -> None:
    reason = _deny(_call(repo, "apply_patch", _patch(UPDATE_UTIL, UPDATE_APP)))
    assert "src/app.py" in reason and "locked by agent alpha" in reason
    assert "refund flow" in reason
    _allowed(_call(repo, "apply_patch", _patch(UPDATE_UTIL)))


def test_apply_patch_add_delete_and_move_headers_are_checked(repo: RepoWithAgents) -> None:
    moved = "*** Update File: src/util.py\n*** Move to: src/app.py\n@@\n-u\n+v\n"
    assert "src/app.py" in _deny(_call(repo, "apply_patch", _patch(moved)))
    added = "*** Add File: README2.md\n+new\n"
    assert "outside the scope of agent beta" in _deny(_call(repo, "apply_patch",
                                                            _patch(added)))
    assert "src/app.py" in _deny(_call(repo, "apply_patch",
                                       _patch("*** Delete File: src/app.py\n")))


def test_out_of_scope_pause_and_bash_write(repo: RepoWithAgents) -> None:
    edit = _patch("*** Update File: README.md\n@@\n-hi\n+ho\n")
    assert "outside the scope of agent beta" in _deny(_call(repo, "apply_patch", edit))
    reason = _deny(_call(repo, "Bash", "echo hacked > src/app.py"))
    assert "src/app.py" in reason and "locked by agent alpha" in reason
    _allowed(_call(repo, "Bash", "git status && ls src"))
    pause(repo, "beta", "broke the build")
    reason = _deny(_call(repo, "Bash", "make"))
    assert "paused" in reason and "broke the build" in reason
    assert "paused" in _deny(_call(repo, "apply_patch", _patch(UPDATE_UTIL)))


def test_context_events_and_stop(repo: RepoWithAgents) -> None:
    sent = run_gitwarden("request", "--to", "beta", "please rename refund()",
                         cwd=repo.agents["alpha"])
    assert sent.returncode == 0, sent.stderr
    for event in ("SessionStart", "UserPromptSubmit"):
        result = _call(repo, "", "", event=event, source="startup", prompt="go on")
        assert result.returncode == 0, result.stderr
        output = json.loads(result.stdout)["hookSpecificOutput"]
        assert output["hookEventName"] == event
        assert "write the refund flow" in output["additionalContext"]
        assert "please rename refund()" in output["additionalContext"]
    stop = _call(repo, "", "", event="Stop", stop_hook_active=False,
                 last_assistant_message="done")
    assert json.loads(stop.stdout)["decision"] == "block"
    assert "please rename refund()" in json.loads(stop.stdout)["reason"]
    again = _call(repo, "", "", event="Stop", stop_hook_active=True)
    assert json.loads(again.stdout) == {}  # no loop: JSON, but no second block


def test_bad_input_fails_closed_with_one_line(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    result = subprocess.run(["sh", "-c", installed_command(beta / SETTINGS, "PreToolUse")],
                            input="not json", cwd=beta, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_post_tool_use_tells_what_to_undo(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    (beta / "README.md").write_text("patched anyway\n")
    result = _call(repo, "apply_patch", _patch("*** Update File: README.md\n@@\n-hi\n+x\n"),
                   event="PostToolUse", tool_response="Success")
    output = json.loads(result.stdout)["hookSpecificOutput"]
    assert output["hookEventName"] == "PostToolUse"
    assert "README.md is outside the scope of agent beta" in output["additionalContext"]
    assert "git checkout -- README.md" in output["additionalContext"]


def test_shell_workdir_is_where_the_command_runs(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    payload = {"session_id": "s", "cwd": str(beta), "hook_event_name": "PreToolUse",
               "tool_name": "Bash", "tool_input": {"command": "echo y > app.py",
                                                    "workdir": "src"}}
    result = run_hook(installed_command(beta / SETTINGS, "PreToolUse"), beta, payload)
    assert "src/app.py" in _deny(result)
