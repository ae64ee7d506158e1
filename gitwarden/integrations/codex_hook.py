"""The OpenAI Codex CLI hook: `gitwarden hook codex`, protocol translation only.

Protocol followed: Codex hooks (https://developers.openai.com/codex/hooks, page of 2026-05-22
covering codex-cli 0.125-0.137; wire schemas in openai/codex codex-rs/hooks/schema). Codex
sends Claude-shaped JSON on stdin: `hook_event_name`, `cwd`, `tool_name`, `tool_input`.
Shell commands (`Bash`) and file edits (`apply_patch`) both carry their text in
`tool_input.command`; an apply_patch envelope names its files in `*** Add File:`,
`*** Update File:`, `*** Delete File:` and `*** Move to:` headers (codex-rs/apply-patch).
PreToolUse denies with `hookSpecificOutput.permissionDecision: "deny"` (exit 0);
PostToolUse, SessionStart and UserPromptSubmit add `additionalContext`; Stop must always
print JSON and uses `{"decision": "block", "reason"}` once to remind of open requests.
The decision is gitwarden.coordination.tool_guard's (through tool_call).
"""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

SHELL_TOOLS = frozenset({"Bash", "shell", "local_shell", "exec_command"})
PATCH_TOOLS = frozenset({"apply_patch", "Edit", "Write"})


def request_of(payload: dict[str, Any]) -> tuple[str, str, list[str], str | None]:
    """(cwd, kind, paths written, shell command) of a Codex tool call."""
    import os

    from gitwarden.coordination.tool_guard import EDIT, OTHER, SHELL
    from gitwarden.integrations.tool_call import patch_paths

    cwd = os.path.realpath(str(payload.get("cwd") or os.getcwd()))
    tool = str(payload.get("tool_name") or "")
    tool_input = payload.get("tool_input")
    tool_input = tool_input if isinstance(tool_input, dict) else {}
    text = tool_input.get("command")
    if isinstance(text, list):  # older shells sent argv
        import shlex

        text = shlex.join(str(word) for word in text)
    text = text if isinstance(text, str) else None
    if tool in PATCH_TOOLS or (text or "").lstrip().startswith("*** Begin Patch"):
        return cwd, EDIT, patch_paths(text or str(tool_input.get("patch") or ""), cwd), None
    if tool in SHELL_TOOLS:
        workdir = tool_input.get("workdir")  # the shell tool's own working directory
        return (os.path.join(cwd, str(workdir)) if workdir else cwd), SHELL, [], text
    return cwd, OTHER, [], None


def main(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    from gitwarden.integrations.tool_call import (
        agent_context,
        changed_context,
        context_output,
        decide_call,
        read_hook_payload,
        stop_reminder,
    )

    sink = stdout or sys.stdout
    payload = read_hook_payload(stdin or sys.stdin, "codex")
    if payload is None:
        return 2  # cannot decide: fail closed (exit 2 blocks; stderr says why)
    event = str(payload.get("hook_event_name") or "PreToolUse")
    cwd, kind, paths, command = request_of(payload)
    if event == "PreToolUse":
        decision = decide_call(cwd, kind, paths, command)
        if not decision.allow:
            _emit(sink, {"hookSpecificOutput": {
                "hookEventName": event, "permissionDecision": "deny",
                "permissionDecisionReason": decision.reason or "denied by gitwarden"}})
    elif event == "PostToolUse":
        if kind != "other":
            _emit_some(sink, context_output(event, changed_context(cwd, kind, paths)))
    elif event in ("SessionStart", "UserPromptSubmit"):
        _emit_some(sink, context_output(event, agent_context(cwd)))
    elif event == "Stop":
        reminder = stop_reminder(cwd, bool(payload.get("stop_hook_active")))
        _emit(sink, {"decision": "block", "reason": reminder} if reminder else {})
    return 0


def _emit_some(sink: IO[str], value: dict[str, Any]) -> None:
    if value:
        _emit(sink, value)


def _emit(sink: IO[str], value: dict[str, Any]) -> None:
    json.dump(value, sink)
    sink.write("\n")


if __name__ == "__main__":
    sys.exit(main())
