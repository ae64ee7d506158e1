"""`gitwarden mcp`: gitwarden for agents as an MCP server over stdio (optional extra
`gitwarden[mcp]`).

Built on the official MCP Python SDK v2 (`mcp` 2.x on PyPI: `mcp.server.mcpserver.MCPServer`,
formerly FastMCP; MCP specification 2025-06-18 and later). Eight tools: status, lock, unlock,
check, request, inbox, done, checkpoint; resources for the assignment, the shared state and the
inbox. The agent is the one whose worktree is the server's working directory when it starts:
no tool takes an agent name, and every action runs the gitwarden CLI in that directory, so the
CLI's own identity rules, user-only refusals and events apply unchanged. `check` asks the same
decision core as the hooks (gitwarden.coordination.tool_guard).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from gitwarden.coordination.tool_guard import EDIT
from gitwarden.git.runner import run_git
from gitwarden.integrations.claude_hook import resolve_place
from gitwarden.integrations.tool_call import decide_call
from gitwarden.invocation import gitwarden_command

MAX_DIFF = 4000


def build_server(root: str) -> MCPServer:
    """The server for the agent whose worktree holds `root` (its identity, fixed here)."""
    root = os.path.realpath(root)
    place = resolve_place({"cwd": root})
    me = place.agent if place else None
    shell = gitwarden_command()
    server = MCPServer(
        "gitwarden", instructions=(
            f"gitwarden coordinates the coding agents of this repository; you are "
            f"{'agent ' + me if me else 'not in an agent worktree'} ({root}). Check and lock "
            f"files before editing them; the same actions from a shell: `{shell} --help`."))

    def cli(*words: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "gitwarden", *words], cwd=root,
                              capture_output=True, text=True, timeout=600, check=False)
        text = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            # the SDK returns a ToolError's message as the tool's error result
            raise ToolError(text or f"gitwarden {words[0]} failed ({proc.returncode})")
        return text

    @server.tool(description="My state and the overlaps touching me: changed files, locks, "
                 "pause, requests.")
    def status() -> dict[str, Any]:
        report = json.loads(cli("status", "--json"))
        mine = [a for a in report.get("agents", []) if a.get("name") == me]
        overlaps = [o for o in report.get("overlaps", []) if me in o.get("agents", [])]
        locks = json.loads(cli("locks", "--json"))
        return {"agent": me, "me": mine[0] if mine else None, "overlaps_with_me": overlaps,
                "locks": locks.get("locks", locks) if isinstance(locks, dict) else locks}

    @server.tool(description="Lock paths or globs before editing them (others' edits are "
                 "refused until unlock or expiry).")
    def lock(paths: list[str], reason: str = "", ttl: str = "") -> str:
        words = ["lock", *paths, "--reason", reason]
        return cli(*(words + (["--ttl", ttl] if ttl else [])))

    @server.tool(description="Release my locks on these paths (all of mine when empty).")
    def unlock(paths: list[str] | None = None) -> str:
        return cli("unlock", *(paths or ["--all"]))

    @server.tool(description="May I edit these paths? Allow/deny with the reason, and the "
                 "other agents' hunks in files they also changed.")
    def check(paths: list[str]) -> list[dict[str, Any]]:
        answers = []
        for path in paths:
            full = os.path.normpath(os.path.join(root, path))
            decision = decide_call(root, EDIT, [full])
            answers.append({"path": path, "allowed": bool(decision.allow),
                            "reason": decision.reason,
                            "others_hunks": _others_hunks(root, full)})
        return answers

    @server.tool(description="Ask another agent for something (lands in its inbox).")
    def request(to: str, text: str) -> str:
        return cli("request", "--to", to, text)

    @server.tool(description="Open requests addressed to me.")
    def inbox() -> Any:
        return json.loads(cli("inbox", "--json"))

    @server.tool(description="Tell everyone my task is finished, with a summary.")
    def done(summary: str = "") -> str:
        return cli("done", "-m", summary)

    @server.tool(description="Save a checkpoint of my worktree (HEAD, index, files untouched).")
    def checkpoint(message: str = "") -> Any:
        return json.loads(cli("checkpoint", "--json", *(["-m", message] if message else [])))

    @server.resource("gitwarden://assignment", name="assignment", mime_type="text/markdown",
                     description="My task, scope and the lock protocol.")
    def assignment() -> str:
        return _read(os.path.join(root, ".gitwarden", "ASSIGNMENT.md")) or \
            f"No assignment file yet in {root}/.gitwarden/."

    @server.resource("gitwarden://state", name="state", mime_type="text/markdown",
                     description="Every agent's changes, locks, overlaps, health and pauses.")
    def state() -> str:
        return _read(os.path.join(root, ".gitwarden", "STATE.md")) or cli("status")

    @server.resource("gitwarden://requests", name="requests", mime_type="text/markdown",
                     description="Open requests addressed to me.")
    def requests() -> str:
        return _read(os.path.join(root, ".gitwarden", "REQUESTS.md")) or cli("inbox")

    return server


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _others_hunks(root: str, full: str) -> dict[str, str]:
    """Per other agent: its diff of this file against where its branch left the base, when
    it changed the file (committed or not)."""
    place = resolve_place({"cwd": root})
    if place is None:
        return {}
    rel = os.path.relpath(os.path.realpath(full), place.root)
    if rel.startswith(".."):
        return {}
    base = (place.config.base if place.config else None) or "main"
    hunks: dict[str, str] = {}
    for other_root, name in place.worktrees.items():
        if name is None or name == place.agent or not os.path.isdir(other_root):
            continue
        fork = run_git(["merge-base", "HEAD", base], other_root,
                       check=False).stdout.decode().strip()
        diff = run_git(["diff", "--no-color", "--no-ext-diff", fork or "HEAD", "--", rel],
                       other_root, check=False).stdout.decode("utf-8", "replace")
        if diff.strip():
            hunks[name] = diff[:MAX_DIFF]
    return hunks


def serve(root: str | None = None) -> None:
    build_server(root or os.getcwd()).run(transport="stdio")
