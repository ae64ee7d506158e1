"""The opencode guard: the plugin `gitwarden hooks install --opencode` wrote, loaded by Node
and called the way opencode calls `tool.execute.before` (opencode itself, a Bun app, is not
on a CI box: this small host stands in for its plugin loader and is the only simulated part),
running the real `gitwarden` adapter process.

Shapes from the opencode plugin docs, https://opencode.ai/docs/plugins/ (anomalyco/opencode
packages/plugin/src/index.ts, 2026): `tool.execute.before(input: {tool, sessionID, callID},
output: {args})` throws to block; tools edit/write (filePath), bash (command, workdir),
apply_patch (patchText, Codex patch format).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitwarden.integrations.opencode_plugin import PLUGIN
from tests.helpers.agent_tools import hooked_repo, pause
from tests.helpers.gitrepo import RepoWithAgents, run_gitwarden

HOST = """
const [plugin, directory, call] = process.argv.slice(2);
const mod = await import(plugin);
const hooks = await mod.GitwardenGuard({ directory, worktree: directory });
const { tool, args } = JSON.parse(call);
try {
  await hooks["tool.execute.before"]({ tool, sessionID: "ses_1", callID: "call_1" }, { args });
  console.log(JSON.stringify({ allowed: true }));
} catch (error) {
  console.log(JSON.stringify({ blocked: error.message }));
}
"""

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")


@pytest.fixture()
def repo(tmp_path: Path) -> RepoWithAgents:
    return hooked_repo(tmp_path, "--opencode")


def _call(repo: RepoWithAgents, tool: str, **args: Any) -> dict[str, Any]:
    beta = repo.agents["beta"]
    module = beta.parent / "plugin-copy.mjs"  # node needs .mjs for an ES module outside a package
    module.write_text((beta / PLUGIN).read_text())
    host = beta.parent / "host.mjs"
    host.write_text(HOST)
    result = subprocess.run(["node", str(host), str(module), str(beta),
                             json.dumps({"tool": tool, "args": args})],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_plugin_blocks_locked_out_of_scope_and_shell_writes(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    blocked = _call(repo, "edit", filePath=str(beta / "src" / "app.py"), oldString="x",
                    newString="y")["blocked"]
    assert "locked by agent alpha" in blocked
    assert "outside the scope of agent beta" in _call(
        repo, "write", filePath=str(beta / "README.md"), content="x")["blocked"]
    assert "src/app.py" in _call(repo, "bash", command="echo y > app.py", workdir="src",
                                 description="write")["blocked"]
    patch = ("*** Begin Patch\n*** Update File: src/util.py\n@@\n-u\n+v\n"
             "*** Update File: src/app.py\n@@\n-x\n+y\n*** End Patch\n")
    assert "src/app.py" in _call(repo, "apply_patch", patchText=patch)["blocked"]
    assert _call(repo, "edit", filePath=str(beta / "src" / "util.py")) == {"allowed": True}
    assert _call(repo, "read", filePath=str(beta / "src" / "app.py")) == {"allowed": True}
    pause(repo, "beta", "overlap with alpha")
    assert "overlap with alpha" in _call(repo, "bash", command="make")["blocked"]


def test_plugin_fails_closed_when_gitwarden_cannot_run(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    text = (beta / PLUGIN).read_text()
    start = text.index("const COMMAND = ") + len("const COMMAND = ")
    end = text.index(";", start)
    (beta / PLUGIN).write_text(text[:start] + json.dumps(["/nonexistent/python"]) + text[end:])
    assert "could not check this tool call" in _call(
        repo, "edit", filePath=str(beta / "src" / "util.py"))["blocked"]


def test_uninstall_removes_only_our_plugin(repo: RepoWithAgents) -> None:
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    (beta / ".opencode" / "plugins" / "mine.js").write_text("export const Mine = 1;\n")
    assert run_gitwarden("hooks", "uninstall", "--opencode", cwd=repo.main).returncode == 0
    assert not (beta / PLUGIN).exists() and not (alpha / ".opencode").exists()
    assert (beta / ".opencode" / "plugins" / "mine.js").exists()
