"""The Gemini CLI hook as Gemini CLI runs it: the command `gitwarden hooks install --gemini`
wrote to `.gemini/settings.json`, fed the JSON Gemini CLI sends.

Payload shapes from the Gemini CLI hooks reference, https://geminicli.com/docs/hooks/reference
(google-gemini/gemini-cli docs/hooks/reference.md, 0.56.0-nightly.20260806, 2026-08-21): base
fields session_id, transcript_path, cwd, hook_event_name, timestamp; BeforeTool adds tool_name
and tool_input (write_file/replace: file_path; run_shell_command: command, description,
dir_path). stdout is only JSON, exit 0; a deny is `{"decision": "deny", "reason": ...}`;
SessionStart/BeforeAgent context is `hookSpecificOutput.additionalContext`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.agent_tools import hooked_repo, installed_command, pause, run_hook
from tests.helpers.gitrepo import RepoWithAgents, run_gitwarden

SETTINGS = Path(".gemini") / "settings.json"


@pytest.fixture()
def repo(tmp_path: Path) -> RepoWithAgents:
    return hooked_repo(tmp_path, "--gemini")


def _call(repo: RepoWithAgents, event: str, tool: str = "",
          **fields: Any) -> dict[str, Any]:
    beta = repo.agents["beta"]
    payload = {"session_id": "gem-1", "transcript_path": "/tmp/gem.json", "cwd": str(beta),
               "hook_event_name": event, "timestamp": "2026-11-29T10:00:00Z",
               "tool_name": tool, **fields}
    result = run_hook(installed_command(beta / SETTINGS, event), beta, payload)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)  # stdout holds only JSON
    return answer


def _deny(answer: dict[str, Any]) -> str:
    assert answer["decision"] == "deny", answer
    return str(answer["reason"])


def test_edits_locked_out_of_scope_and_allowed(repo: RepoWithAgents) -> None:
    reason = _deny(_call(repo, "BeforeTool", "replace", tool_input={
        "file_path": "src/app.py", "old_string": "x", "new_string": "y",
        "instruction": "rename"}))
    assert "locked by agent alpha" in reason and "refund flow" in reason
    assert "outside the scope of agent beta" in _deny(_call(
        repo, "BeforeTool", "write_file", tool_input={"file_path": "README.md",
                                                      "content": "new"}))
    beta = repo.agents["beta"]
    assert _call(repo, "BeforeTool", "write_file", tool_input={
        "file_path": str(beta / "src" / "util.py"), "content": "v"}) == {}
    assert _call(repo, "BeforeTool", "read_file", tool_input={"file_path": "src/app.py"}) == {}


def test_shell_write_dir_path_and_pause(repo: RepoWithAgents) -> None:
    reason = _deny(_call(repo, "BeforeTool", "run_shell_command", tool_input={
        "command": "sed -i s/x/y/ app.py", "description": "edit", "dir_path": "src"}))
    assert "src/app.py" in reason and "locked by agent alpha" in reason
    assert _call(repo, "BeforeTool", "run_shell_command",
                 tool_input={"command": "ls", "dir_path": "src"}) == {}
    pause(repo, "beta", "tests red")
    reason = _deny(_call(repo, "BeforeTool", "write_file",
                         tool_input={"file_path": "src/util.py", "content": "v"}))
    assert "paused" in reason and "tests red" in reason


def test_session_start_and_before_agent_carry_the_assignment(repo: RepoWithAgents) -> None:
    sent = run_gitwarden("request", "--to", "beta", "hand me docs/guide.md",
                         cwd=repo.agents["alpha"])
    assert sent.returncode == 0, sent.stderr
    for event, extra in (("SessionStart", {"source": "startup"}),
                         ("BeforeAgent", {"prompt": "continue"})):
        output = _call(repo, event, **extra)["hookSpecificOutput"]
        assert "write the refund flow" in output["additionalContext"]
        assert "hand me docs/guide.md" in output["additionalContext"]
        assert "src/app.py" in output["additionalContext"]  # alpha's lock in beta's scope


def test_bad_input_blocks_with_exit_2(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    result = subprocess.run(["sh", "-c", installed_command(beta / SETTINGS, "BeforeTool")],
                            input="[1, 2", cwd=beta, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_after_tool_tells_what_to_undo(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    (beta / "src" / "app.py").write_text("written anyway\n")
    output = _call(repo, "AfterTool", "write_file",
                   tool_input={"file_path": "src/app.py", "content": "written anyway\n"},
                   tool_response={"llmContent": "ok", "returnDisplay": "ok"})
    context = output["hookSpecificOutput"]["additionalContext"]
    assert "src/app.py is locked by agent alpha" in context


def test_undecidable_call_is_denied_with_its_fix(repo: RepoWithAgents) -> None:
    (repo.main / "gitwarden.toml").write_text("[agents.beta\nscope = \n")
    reason = _deny(_call(repo, "BeforeTool", "write_file",
                         tool_input={"file_path": "src/util.py", "content": "v"}))
    assert "gitwarden cannot check this tool call" in reason and "gitwarden.toml" in reason
    assert _call(repo, "BeforeTool", "read_file", tool_input={"file_path": "a"}) == {}
    (repo.main / "gitwarden.toml").write_text(
        '[hooks]\non_error = "allow"\n[agents.beta]\npolicy = "explode"\n')
    assert _call(repo, "BeforeTool", "write_file",
                 tool_input={"file_path": "src/util.py", "content": "v"}) == {}
