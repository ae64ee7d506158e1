"""The Claude Code PreToolUse hook, fed the JSON Claude Code sends, as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitwarden.coordination.locks import acquire
from gitwarden.coordination.pauses import pause_agent
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from tests.helpers.gitrepo import RepoWithAgents, git, make_repo_with_agents, run_gitwarden, write

HEAVY = ("pygit2", "watchdog", "apscheduler", "notifypy")


@pytest.fixture()
def repo(tmp_path: Path) -> RepoWithAgents:
    made = make_repo_with_agents(tmp_path, names=("alpha", "beta"),
                                 files={"README.md": "hi\n", "src/app.py": "x\n",
                                        "docs/guide.md": "g\n"})
    with Store.open(locate_repo(made.main)) as store:
        assert acquire(store, "alpha", ["src/app.py"], ttl=1800, reason="refund flow").granted
    return made


def _hook(cwd: Path, tool: str, **tool_input: str) -> subprocess.CompletedProcess[str]:
    payload = {"session_id": "s1", "transcript_path": "/tmp/t.jsonl", "cwd": str(cwd),
               "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": tool_input}
    return run_gitwarden("hook", "claude", cwd=cwd, input_text=json.dumps(payload))


def _reason(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)["hookSpecificOutput"]
    assert output["hookEventName"] == "PreToolUse"
    assert output["permissionDecision"] == "deny"
    return str(output["permissionDecisionReason"])


def test_edit_of_a_file_locked_by_another_agent_is_denied(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    reason = _reason(_hook(beta, "Edit", file_path=str(beta / "src" / "app.py"),
                           old_string="x", new_string="y"))
    assert "locked by agent alpha" in reason and "refund flow" in reason
    assert "until" in reason and "gitwarden lock src/app.py --wait" in reason
    assert "gitwarden request --to alpha" in reason
    for tool in ("Write", "MultiEdit"):
        assert "alpha" in _reason(_hook(beta, tool, file_path=str(beta / "src" / "app.py")))


def test_unlocked_file_and_own_lock_are_allowed_silently(repo: RepoWithAgents) -> None:
    beta, alpha = repo.agents["beta"], repo.agents["alpha"]
    for result in (_hook(beta, "Edit", file_path=str(beta / "README.md")),
                   _hook(alpha, "Edit", file_path=str(alpha / "src" / "app.py")),
                   _hook(beta, "Read", file_path=str(beta / "src" / "app.py")),
                   _hook(beta, "Bash", command="ls")):
        assert result.returncode == 0 and result.stdout == "", result.stderr


def test_paths_outside_the_worktree_are_refused(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    assert "outside your worktree" in _reason(_hook(beta, "Edit", file_path="../../etc/passwd"))
    assert "outside your worktree" in _reason(
        _hook(beta, "Write", file_path=str(repo.agents["alpha"] / "README.md")))


def test_scope_and_pause(repo: RepoWithAgents) -> None:
    (repo.main / "gitwarden.toml").write_text('[agents.beta]\nscope = ["docs/**"]\n')
    beta = repo.agents["beta"]
    assert "outside the scope of agent beta" in _reason(
        _hook(beta, "Edit", file_path=str(beta / "README.md")))
    assert _hook(beta, "Edit", file_path=str(beta / "docs" / "guide.md")).stdout == ""
    with Store.open(locate_repo(repo.main)) as store:
        pause_agent(store, "beta", "broke the build", "health")
    reason = _reason(_hook(beta, "Bash", command="make"))
    assert "paused" in reason and "broke the build" in reason
    assert "gitwarden resume beta" in reason


def test_not_an_agent_and_no_state_allow(tmp_path: Path, repo: RepoWithAgents) -> None:
    assert _hook(repo.main, "Edit", file_path=str(repo.main / "src" / "app.py")).stdout == ""
    assert _hook(tmp_path, "Edit", file_path=str(tmp_path / "x")).stdout == ""


def test_case4_broken_gitwarden_fails_closed_with_the_fix_unless_opted_out(
        repo: RepoWithAgents) -> None:
    """Issue 12 case 4: corrupt state, an invalid gitwarden.toml and bad JSON deny edits
    with the problem and its fix; `[hooks] on_error = "allow"` lets them through."""
    state = locate_repo(repo.main).state_dir
    beta = repo.agents["beta"]
    (repo.main / "gitwarden.toml").write_text("[watch]\ndebounce = nan\n")
    reason = _reason(_hook(beta, "Edit", file_path=str(beta / "README.md")))
    assert "gitwarden.toml:2" in reason and "Fix: fix gitwarden.toml" in reason
    assert 'on_error = "allow"' in reason
    (repo.main / "gitwarden.toml").write_text("")
    (state / "state.db").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (state / f"state.db{suffix}").unlink(missing_ok=True)
    reason = _reason(_hook(beta, "Edit", file_path=str(beta / "src" / "app.py")))
    assert "state database cannot be read" in reason and "state.db away" in reason
    assert "denying the tool call" in (state / "hook-errors.log").read_text()
    assert "paused" not in reason
    assert _hook(beta, "Read", file_path=str(beta / "README.md")).stdout == ""
    garbage = run_gitwarden("hook", "claude", cwd=beta, input_text="{not json")
    assert "not JSON" in _reason(garbage)
    (repo.main / "gitwarden.toml").write_text('[hooks]\non_error = "allow"\n')
    result = _hook(beta, "Edit", file_path=str(beta / "src" / "app.py"))
    assert result.returncode == 0 and result.stdout == "", result.stdout
    assert "allowing the tool call" in result.stderr


def test_hook_path_imports_nothing_heavy(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    payload = json.dumps({"tool_name": "Edit", "cwd": str(beta),
                          "tool_input": {"file_path": str(beta / "src" / "app.py")}})
    code = (
        "import io, sys\n"
        f"sys.stdin = io.StringIO({payload!r})\n"
        "from gitwarden.cli import main\n"
        "assert main(['hook', 'claude']) == 0\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=beta, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "permissionDecision" in result.stdout
    assert "HEAVY []" in result.stderr


def test_hooks_install_claude_merges_and_stays_out_of_git(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    settings = beta / ".claude" / "settings.local.json"
    write(beta, {".claude/settings.local.json": json.dumps({
        "permissions": {"allow": ["Bash(ls:*)"]},
        "hooks": {"PreToolUse": [{"matcher": "Bash",
                                  "hooks": [{"type": "command", "command": "my-check"}]}]}})})
    for _ in range(2):  # idempotent
        result = run_gitwarden("hooks", "install", "--claude", cwd=repo.main)
        assert result.returncode == 0, result.stderr
    data = json.loads(settings.read_text())
    assert data["permissions"] == {"allow": ["Bash(ls:*)"]}
    commands = [h["command"] for e in data["hooks"]["PreToolUse"] for h in e["hooks"]]
    assert commands[0] == "my-check"
    assert sum("run_hook_client.py claude" in c for c in commands) == 1
    post = [h["command"] for e in data["hooks"]["PostToolUse"] for h in e["hooks"]]
    assert post == [commands[-1]]
    assert (repo.agents["alpha"] / ".claude" / "settings.local.json").exists()
    assert git(beta, "status", "--porcelain", "--untracked-files=all") == ""
    # the installed command really works as Claude Code would run it
    ours = next(c for c in commands if "run_hook_client.py claude" in c)
    payload = json.dumps({"tool_name": "Edit", "cwd": str(beta),
                          "tool_input": {"file_path": str(beta / "src" / "app.py")}})
    run = subprocess.run(ours, shell=True, cwd=beta, input=payload, capture_output=True,
                         text=True, check=False)
    assert "deny" in run.stdout
    assert run_gitwarden("hooks", "uninstall", "--claude", cwd=repo.main).returncode == 0
    data = json.loads(settings.read_text())
    assert [h["command"] for e in data["hooks"]["PreToolUse"] for h in e["hooks"]] == \
        ["my-check"]


def test_symbolic_links_do_not_lead_around_locks_scope_or_the_worktree(
        repo: RepoWithAgents, tmp_path: Path) -> None:
    beta = repo.agents["beta"]
    (beta / "alias").symlink_to("src/app.py")
    (beta / "srcdir").symlink_to("src")
    (beta / "etcl").symlink_to("/etc")
    (beta / "other").symlink_to(repo.agents["alpha"])
    reason = _reason(_hook(beta, "Edit", file_path=str(beta / "alias"),
                           old_string="x", new_string="y"))
    assert "src/app.py (through the symbolic link alias) is locked by agent alpha" in reason
    assert "alpha" in _reason(_hook(beta, "Write", file_path=str(beta / "srcdir" / "app.py")))
    for target in (beta / "etcl" / "passwd", beta / "etcl" / "new-file",
                   beta / "other" / "README.md"):
        reason = _reason(_hook(beta, "Write", file_path=str(target)))
        assert "outside the worktree" in reason and "symbolic link" in reason, reason
    # a new file in a real directory, and a link to an unlocked file, are fine
    (beta / "readme-link").symlink_to("README.md")
    for allowed in (beta / "src" / "brand-new.py", beta / "readme-link"):
        result = _hook(beta, "Write", file_path=str(allowed))
        assert result.returncode == 0 and result.stdout == "", result.stdout
    # scope: a link inside the scope to a file outside it is refused
    (repo.main / "gitwarden.toml").write_text('[agents.beta]\nscope = ["docs/**"]\n')
    (beta / "docs" / "readme").symlink_to("../README.md")
    assert "outside the scope" in _reason(_hook(beta, "Edit",
                                                file_path=str(beta / "docs" / "readme")))


def test_hooks_install_refuses_a_committed_settings_file(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    committed = '{\n    "permissions": {"allow": []}\n}\n'
    write(beta, {".claude/settings.local.json": committed})
    git(beta, "add", "-f", ".claude/settings.local.json")
    git(beta, "commit", "-q", "-m", "team settings")
    result = run_gitwarden("hooks", "install", "--claude", cwd=repo.main)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(beta / ".claude" / "settings.local.json") in result.stderr
    assert "committed" in result.stderr
    assert (beta / ".claude" / "settings.local.json").read_text() == committed
    assert not (repo.agents["alpha"] / ".claude").exists()  # nothing half done
    both = run_gitwarden("hooks", "install", cwd=repo.main)
    assert both.returncode == 2
    assert not (locate_repo(repo.main).common_dir / "hooks" / "pre-commit").exists()


def test_hooks_uninstall_deletes_what_it_created_and_keeps_formatting(
        repo: RepoWithAgents) -> None:
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    mine = '{\n\t"permissions": {\n\t\t"allow": ["Bash(ls:*)"]\n\t}\n}\n'
    write(beta, {".claude/settings.local.json": mine})
    assert run_gitwarden("hooks", "install", "--claude", cwd=repo.main).returncode == 0
    installed = (beta / ".claude" / "settings.local.json").read_text()
    assert installed.startswith('{\n\t"permissions"') and "run_hook_client.py claude" in installed
    assert (alpha / ".claude" / "settings.local.json").exists()
    before = (alpha / ".claude" / "settings.local.json").stat().st_mtime_ns
    assert run_gitwarden("hooks", "install", "--claude", cwd=repo.main).returncode == 0
    assert (alpha / ".claude" / "settings.local.json").stat().st_mtime_ns == before
    assert run_gitwarden("hooks", "uninstall", "--claude", cwd=repo.main).returncode == 0
    assert not (alpha / ".claude").exists()  # created by us, nothing else in it
    assert json.loads((beta / ".claude" / "settings.local.json").read_text()) == \
        json.loads(mine)
    assert (beta / ".claude" / "settings.local.json").read_text().startswith('{\n\t"perm')
    # nothing of ours left: uninstall does not touch the user's file at all
    untouched = '{"permissions":   {"allow": []}}'
    write(beta, {".claude/settings.local.json": untouched})
    assert run_gitwarden("hooks", "uninstall", "--claude", cwd=repo.main).returncode == 0
    assert (beta / ".claude" / "settings.local.json").read_text() == untouched


def test_post_tool_use_tells_the_agent_what_to_undo(repo: RepoWithAgents) -> None:
    (repo.main / "gitwarden.toml").write_text('[agents.beta]\nscope = ["docs/**", "src/**"]\n')
    beta = repo.agents["beta"]
    write(beta, {"README.md": "changed by a shell\n", "docs/guide.md": "fine\n",
                 "notes $(x).txt": "new\n", "src/app.py": "beta\n"})
    payload = {"session_id": "s1", "cwd": str(beta), "hook_event_name": "PostToolUse",
               "tool_name": "Bash", "tool_input": {"command": "./script.sh"},
               "tool_response": {"stdout": ""}, "duration_ms": 1500}
    result = run_gitwarden("hook", "claude", cwd=beta, input_text=json.dumps(payload))
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)["hookSpecificOutput"]
    assert output["hookEventName"] == "PostToolUse"
    context = output["additionalContext"]
    assert "README.md is outside the scope of agent beta" in context
    assert "`git checkout -- README.md`" in context
    assert "`rm -- 'notes $(x).txt'`" in context
    assert "src/app.py is locked by agent alpha" in context
    assert "docs/guide.md" not in context
    quiet = {**payload, "tool_name": "Read", "tool_input": {"file_path": str(beta / "x")}}
    assert run_gitwarden("hook", "claude", cwd=beta,
                         input_text=json.dumps(quiet)).stdout == ""


def test_ignored_files_are_nobodys_scope(repo: RepoWithAgents) -> None:
    (repo.main / "gitwarden.toml").write_text('[agents.beta]\nscope = ["docs/**"]\n')
    beta = repo.agents["beta"]
    write(beta, {".gitignore": "build/\n"})
    assert _hook(beta, "Bash", command="rm -rf build && mkdir build").stdout == ""
    assert _hook(beta, "Write", file_path=str(beta / "build" / "out.txt")).stdout == ""
    assert "outside the scope" in _reason(_hook(beta, "Bash", command="rm -f README.md"))
