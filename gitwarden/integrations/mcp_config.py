"""Registering `gitwarden mcp` (the stdio MCP server) in each agent tool's MCP config of an
agent worktree, next to the user's servers, and removing only ours again.

Claude Code: `.mcp.json` `{"mcpServers": {NAME: {"command", "args"}}}` (code.claude.com/docs/
en/mcp); Gemini CLI: `.gemini/settings.json` `mcpServers` with `cwd` (geminicli.com/docs/tools/
mcp-server); Codex: `.codex/config.toml` `[mcp_servers.NAME]` (developers.openai.com/codex/mcp);
opencode: `opencode.json` `{"mcp": {NAME: {"type": "local", "command": [...]}}}`
(opencode.ai/docs/mcp-servers). The server takes its identity from its working directory,
the agent's worktree.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from gitwarden.errors import GitwardenError
from gitwarden.git.runner import run_git

SERVER = "gitwarden"
FILES = {"claude": Path(".mcp.json"), "gemini": Path(".gemini") / "settings.json",
         "codex": Path(".codex") / "config.toml", "opencode": Path("opencode.json")}
_CODEX_TABLE = re.compile(r"(?ms)^\[mcp_servers\.gitwarden\]\n.*?(?=^\[|\Z)")


def exclude_patterns() -> tuple[str, ...]:
    return tuple(f"/{path.as_posix()}" for path in FILES.values())


def server_args(worktree: Path) -> list[str]:
    """`-C WORKTREE`: the server is that agent whichever directory the tool starts it in."""
    return ["-m", "gitwarden", "-C", str(worktree), "mcp"]


def server_entry(tool: str, worktree: Path, python: str = sys.executable) -> Any:
    if tool == "opencode":
        return {"type": "local", "command": [python, *server_args(worktree)], "enabled": True}
    entry: dict[str, Any] = {"command": python, "args": server_args(worktree)}
    if tool == "gemini":
        entry["cwd"] = str(worktree)
    return entry


def register(worktree: Path, tool: str) -> str | None:
    """Add our server to `tool`'s MCP config in `worktree`; the line to print. A committed
    config file is left alone (the line says what to add to it)."""
    path = worktree / FILES[tool]
    if run_git(["ls-files", "--error-unmatch", "--", FILES[tool].as_posix()], worktree,
               check=False).returncode == 0:
        return (f"{path} is committed to git: not changed; add the server `{sys.executable} "
                "-m gitwarden mcp` to it yourself if you want it")
    if tool == "codex":
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        table = (f"[mcp_servers.{SERVER}]\ncommand = {json.dumps(sys.executable)}\n"
                 f"args = {json.dumps(server_args(worktree))}\n")
        updated = _CODEX_TABLE.sub("", text).rstrip("\n")
        updated = (updated + "\n\n" if updated else "") + table
        _write_text(path, updated)
        return f"MCP server registered in {path}"
    key = "mcp" if tool == "opencode" else "mcpServers"
    data = _read_json(path)
    servers = data.setdefault(key, {})
    if not isinstance(servers, dict):
        raise GitwardenError(f"{path}: '{key}' is not an object")
    servers[SERVER] = server_entry(tool, worktree)
    _write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return f"MCP server registered in {path}"


def unregister(worktree: Path, tool: str) -> str | None:
    path = worktree / FILES[tool]
    if not path.exists():
        return None
    if tool == "codex":
        text = path.read_text(encoding="utf-8")
        updated = _CODEX_TABLE.sub("", text)
        if updated == text:
            return None
        _write_text(path, updated.rstrip("\n") + "\n" if updated.strip() else "")
        return f"MCP server removed from {path}"
    key = "mcp" if tool == "opencode" else "mcpServers"
    data = _read_json(path)
    servers = data.get(key)
    if not isinstance(servers, dict) or SERVER not in servers:
        return None
    del servers[SERVER]
    if not servers:
        del data[key]
    if not data and tool in ("claude", "opencode"):
        path.unlink()
    else:
        _write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return f"MCP server removed from {path}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise GitwardenError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}; fix it "
                             "and install again") from exc
    if not isinstance(data, dict):
        raise GitwardenError(f"{path}: expected a JSON object")
    return data


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
