"""Claude Code's SessionStart, UserPromptSubmit and Stop hooks, run as installed by
`gitwarden hooks install --claude` and fed the JSON Claude Code sends.

Shapes from the Claude Code hooks reference, https://code.claude.com/docs/en/hooks (copy of
2026-08-22, v2.1.x): common session_id, transcript_path, cwd, hook_event_name; SessionStart
adds source, UserPromptSubmit adds prompt, Stop adds stop_hook_active and
last_assistant_message. Context goes out as `hookSpecificOutput.additionalContext`; Stop blocks
with `{"decision": "block", "reason"}`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gitwarden.git.repository import locate_repo
from tests.helpers.agent_tools import hooked_repo, installed_command, pause, run_hook
from tests.helpers.gitrepo import RepoWithAgents, git, run_gitwarden, write

SETTINGS = Path(".claude") / "settings.local.json"


@pytest.fixture()
def repo(tmp_path: Path) -> RepoWithAgents:
    return hooked_repo(tmp_path, "--claude")


def _event(repo: RepoWithAgents, event: str, **fields: Any) -> str:
    beta = repo.agents["beta"]
    payload = {"session_id": "abc123", "transcript_path": "/tmp/t.jsonl", "cwd": str(beta),
               "permission_mode": "default", "hook_event_name": event, **fields}
    result = run_hook(installed_command(beta / SETTINGS, event), beta, payload)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_session_start_and_prompt_carry_assignment_and_a_fresh_request(
        repo: RepoWithAgents) -> None:
    sent = run_gitwarden("request", "--to", "beta", "rebase on main, I moved utils",
                         cwd=repo.agents["alpha"])
    assert sent.returncode == 0, sent.stderr
    for event, extra in (("SessionStart", {"source": "startup", "model": "claude-x"}),
                         ("UserPromptSubmit", {"prompt": "continue"})):
        output = json.loads(_event(repo, event, **extra))["hookSpecificOutput"]
        assert output["hookEventName"] == event
        context = output["additionalContext"]
        assert "you are agent beta" in context and "write the refund flow" in context
        assert "rebase on main, I moved utils" in context and "from alpha" in context
        assert "`src/app.py`: agent alpha (refund flow)" in context
        assert "src/**" in context


def test_context_names_pause_and_base_staleness(repo: RepoWithAgents) -> None:
    write(repo.main, {"NEWS.md": "n\n"})
    git(repo.main, "add", "NEWS.md")
    git(repo.main, "commit", "-q", "-m", "news")
    pause(repo, "beta", "broke the build")
    context = json.loads(_event(repo, "UserPromptSubmit", prompt="go"))[
        "hookSpecificOutput"]["additionalContext"]
    assert "PAUSED" in context and "broke the build" in context
    assert "1 commit(s) your branch does not have" in context


def test_stop_checkpoints_and_reminds_once(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    write(beta, {"src/util.py": "work in progress\n"})
    assert _event(repo, "Stop", stop_hook_active=False, last_assistant_message="done") == ""
    refs = git(locate_repo(repo.main).main_worktree, "for-each-ref",
               "refs/gitwarden/checkpoints/beta")
    assert refs.strip(), "the Stop hook took a checkpoint"
    assert git(beta, "status", "--porcelain").strip() == "M src/util.py"  # untouched


def test_stop_blocks_for_unanswered_requests_but_not_in_a_loop(repo: RepoWithAgents) -> None:
    assert _event(repo, "Stop", stop_hook_active=False) == ""  # nothing open: no block
    run_gitwarden("request", "--to", "beta", "answer me", cwd=repo.agents["alpha"])
    blocked = json.loads(_event(repo, "Stop", stop_hook_active=False))
    assert blocked["decision"] == "block" and "answer me" in blocked["reason"]
    assert _event(repo, "Stop", stop_hook_active=True) == ""


def test_user_shell_gets_no_context(repo: RepoWithAgents) -> None:
    command = installed_command(repo.agents["beta"] / SETTINGS, "SessionStart")
    payload = {"session_id": "s", "cwd": str(repo.main), "hook_event_name": "SessionStart",
               "source": "startup"}
    env = {k: v for k, v in os.environ.items() if k != "GITWARDEN_AGENT"}
    result = run_hook(command, repo.main, payload, env=env)
    assert result.returncode == 0 and result.stdout == ""
