"""`gitwarden hooks install` per agent tool, merged into the user's settings and removed
again, and `gitwarden agent add` giving a new agent its tool's hooks."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.helpers.gitrepo import make_repo_with_agents, run_gitwarden, write


def test_agent_added_after_install_gets_its_hooks(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",), files={"a.txt": "a\n"})
    assert run_gitwarden("hooks", "install", "--claude", "--gemini",
                         cwd=repo.main).returncode == 0
    added = run_gitwarden("agent", "add", "late", cwd=repo.main)
    assert added.returncode == 0, added.stderr
    late = repo.main.parent / f"{repo.main.name}-agents" / "late"
    settings = json.loads((late / ".claude" / "settings.local.json").read_text())
    assert "run_hook_client.py claude" in json.dumps(settings["hooks"]["PreToolUse"])
    assert "run_hook_client.py claude-context" in json.dumps(settings["hooks"]["SessionStart"])
    assert "run_hook_client.py gemini" in (late / ".gemini" / "settings.json").read_text()
    assert f"late: Claude Code hooks in {late / '.claude' / 'settings.local.json'}" \
        in added.stdout
    codex = run_gitwarden("agent", "add", "reviewer", "--tool", "codex", cwd=repo.main)
    assert codex.returncode == 0, codex.stderr
    reviewer = repo.main.parent / f"{repo.main.name}-agents" / "reviewer"
    assert "run_hook_client.py codex" in (reviewer / ".codex" / "hooks.json").read_text()
    assert "trust it in /hooks" in codex.stdout
    assert not (reviewer / ".claude").exists()
    assert 'tool = "codex"' in (repo.main / "gitwarden.toml").read_text()
    aider = run_gitwarden("agent", "add", "helper", "--tool", "aider", cwd=repo.main)
    assert "gitwarden run --agent helper" in aider.stdout
    status = run_gitwarden("status", cwd=repo.main)  # the new files are not agent changes
    assert ".codex" not in status.stdout and ".gemini" not in status.stdout


def test_install_merges_into_user_settings_and_uninstall_removes_only_ours(
        tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",), files={"a.txt": "a\n"})
    alpha = repo.agents["alpha"]
    user_hook = {"matcher": "write_file", "hooks": [{"type": "command", "command": "lint"}]}
    write(alpha, {".gemini/settings.json": json.dumps(
        {"theme": "dark", "hooks": {"BeforeTool": [user_hook]},
         "mcpServers": {"db": {"command": "db-mcp"}}}),
        ".codex/config.toml": 'model = "gpt-5"\n\n[mcp_servers.db]\ncommand = "db-mcp"\n'})
    result = run_gitwarden("hooks", "install", "--all", "--mcp", cwd=repo.main)
    assert result.returncode == 0, result.stderr
    gemini = json.loads((alpha / ".gemini" / "settings.json").read_text())
    assert gemini["hooks"]["BeforeTool"][0] == user_hook
    assert "run_hook_client.py gemini" in gemini["hooks"]["BeforeTool"][1]["hooks"][0]["command"]
    assert gemini["hooks"]["BeforeTool"][1]["hooks"][0]["timeout"] == 30000  # milliseconds
    assert set(gemini["mcpServers"]) == {"db", "gitwarden"}
    assert gemini["mcpServers"]["gitwarden"]["cwd"] == str(alpha)
    codex = tomllib.loads((alpha / ".codex" / "config.toml").read_text())
    assert codex["mcp_servers"]["gitwarden"]["args"] == ["-m", "gitwarden", "-C", str(alpha),
                                                         "mcp"]
    assert json.loads((alpha / ".mcp.json").read_text())["mcpServers"]["gitwarden"]
    assert "gitwarden" in json.loads((alpha / "opencode.json").read_text())["mcp"]
    assert (alpha / ".opencode" / "plugins" / "gitwarden.js").exists()
    again = run_gitwarden("hooks", "install", "--all", cwd=repo.main)
    assert json.loads((alpha / ".gemini" / "settings.json").read_text()) == gemini  # no dup
    assert again.returncode == 0
    removed = run_gitwarden("hooks", "uninstall", "--all", cwd=repo.main)
    assert removed.returncode == 0, removed.stderr
    assert json.loads((alpha / ".gemini" / "settings.json").read_text()) == {
        "theme": "dark", "hooks": {"BeforeTool": [user_hook]},
        "mcpServers": {"db": {"command": "db-mcp"}}}
    assert tomllib.loads((alpha / ".codex" / "config.toml").read_text()) == {
        "model": "gpt-5", "mcp_servers": {"db": {"command": "db-mcp"}}}
    for created in (".claude", ".mcp.json", "opencode.json", ".opencode", ".codex/hooks.json"):
        assert not (alpha / created).exists(), created


def test_a_committed_mcp_config_is_left_alone(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",),
                                 files={"a.txt": "a\n", ".mcp.json": '{"mcpServers": {}}\n'})
    alpha = repo.agents["alpha"]
    result = run_gitwarden("hooks", "install", "--claude", "--mcp", cwd=repo.main)
    assert result.returncode == 0, result.stderr
    assert "is committed to git: not changed" in result.stdout
    assert (alpha / ".mcp.json").read_text() == '{"mcpServers": {}}\n'


def test_doctor_checks_each_agents_own_tool(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "scribe"), files={"a.txt": "a\n"})
    (repo.main / "gitwarden.toml").write_text(
        '[agents.alpha]\ntool = "codex"\n\n[agents.scribe]\ntool = "aider"\n')

    def hook_messages() -> list[str]:
        report = json.loads(run_gitwarden("doctor", "--json", cwd=repo.main).stdout)
        return [f["message"] for f in report["findings"] if f["check"] == "hooks"]

    assert any(m.startswith("alpha: the codex hooks are missing") for m in hook_messages())
    assert not any("Claude Code" in m or m.startswith("scribe") for m in hook_messages())
    assert run_gitwarden("hooks", "install", cwd=repo.main).returncode == 0
    assert (repo.agents["alpha"] / ".codex" / "hooks.json").exists()
    assert not (repo.agents["scribe"] / ".claude").exists()  # aider: no hooks
    assert not any(m.startswith("alpha") for m in hook_messages())
