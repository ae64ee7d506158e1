"""`gitwarden mcp` as a real subprocess, driven by the official MCP SDK's stdio client
(mcp 2.x: ClientSession over stdio_client): two agents' servers, each started in its own
worktree, see each other's locks and requests."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.helpers.gitrepo import make_repo_with_agents, run_gitwarden, write


def _params(worktree: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k != "GITWARDEN_AGENT"}
    registered = worktree / ".mcp.json"
    if registered.exists():  # as Claude Code starts it, from wherever it runs
        entry = json.loads(registered.read_text())["mcpServers"]["gitwarden"]
        return StdioServerParameters(command=entry["command"], args=entry["args"], env=env,
                                     cwd=str(worktree.parent))
    return StdioServerParameters(command=sys.executable, args=["-m", "gitwarden", "mcp"],
                                 env=env, cwd=str(worktree))


def _payload(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        value = result.structured_content
        return value.get("result", value) if isinstance(value, dict) else value
    return result.content[0].text


async def _session_calls(alpha: Path, beta: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with stdio_client(_params(alpha)) as (read, write_), \
            ClientSession(read, write_) as session:
        init = await session.initialize()
        seen["server"] = init.server_info.name
        tools = await session.list_tools()
        seen["tools"] = {tool.name: tool.description for tool in tools.tools}
        seen["schemas"] = [tool.input_schema for tool in tools.tools]
        seen["lock"] = _payload(await session.call_tool(
            "lock", {"paths": ["src/app.py"], "reason": "refund flow"}))
        seen["request"] = _payload(await session.call_tool(
            "request", {"to": "beta", "text": "please review src/app.py"}))
        seen["alpha_status"] = _payload(await session.call_tool("status", {}))
        seen["checkpoint"] = _payload(await session.call_tool("checkpoint", {"message": "wip"}))
        seen["assignment"] = (await session.read_resource("gitwarden://assignment")).contents
        resources = await session.list_resources()
        seen["resources"] = sorted(str(r.uri) for r in resources.resources)
    async with stdio_client(_params(beta)) as (read, write_), \
            ClientSession(read, write_) as session:
        await session.initialize()
        seen["beta_check"] = _payload(await session.call_tool(
            "check", {"paths": ["src/app.py", "README.md"]}))
        seen["beta_inbox"] = _payload(await session.call_tool("inbox", {}))
        seen["beta_status"] = _payload(await session.call_tool("status", {}))
        seen["done"] = _payload(await session.call_tool("done", {"summary": "reviewed"}))
        refused = await session.call_tool("unlock", {"paths": ["src/app.py"]})
        seen["beta_unlock_refused"] = refused.is_error or "not" in str(refused.content)
    return seen


def test_two_agents_servers_share_locks_and_requests(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"),
                                 files={"README.md": "hi\n", "src/app.py": "x\n"})
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    write(alpha, {"src/app.py": "alpha's change\n"})
    # alpha's server is the one `hooks install --mcp` registered (started outside alpha),
    # beta's is `gitwarden mcp` started in beta's worktree
    installed = run_gitwarden("hooks", "install", "--claude", "--mcp", cwd=repo.main)
    assert installed.returncode == 0, installed.stderr
    (beta / ".mcp.json").unlink()
    seen = asyncio.run(asyncio.wait_for(_session_calls(alpha, beta), 180))
    assert seen["server"] == "gitwarden"
    assert len(seen["tools"]) <= 8
    assert set(seen["tools"]) == {"status", "lock", "unlock", "check", "request", "inbox",
                                  "done", "checkpoint"}
    assert all(len(text or "") <= 120 for text in seen["tools"].values())
    # identity comes from the server's directory: no tool takes an agent name
    assert not any({"agent", "from", "from_agent"} & set(s.get("properties", {}))
                   for s in seen["schemas"])
    assert "src/app.py" in str(seen["lock"])
    assert seen["alpha_status"]["agent"] == "alpha"
    assert {"gitwarden://assignment", "gitwarden://state"} <= set(seen["resources"])
    app, readme = seen["beta_check"]
    assert app["allowed"] is False and "locked by agent alpha" in app["reason"]
    assert "alpha's change" in app["others_hunks"]["alpha"]
    assert readme["allowed"] is True and readme["others_hunks"] == {}
    assert "please review src/app.py" in json.dumps(seen["beta_inbox"])
    assert any(lock.get("agent") == "alpha" for lock in seen["beta_status"]["locks"])
    assert seen["beta_unlock_refused"]
    assert "alpha" in json.dumps(seen["checkpoint"]) and seen["assignment"]
    assert "beta" in str(seen["done"])
    still = run_gitwarden("locks", "--json", cwd=repo.main)
    assert "alpha" in still.stdout
