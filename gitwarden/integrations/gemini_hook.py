"""The Gemini CLI hook: `gitwarden hook gemini`, protocol translation only.

Protocol followed: Gemini CLI hooks (https://geminicli.com/docs/hooks/ and docs/hooks/
reference.md of google-gemini/gemini-cli 0.56.0-nightly.20260806, 2026-08-21). Stdin carries
`hook_event_name`, `cwd`, `tool_name`, `tool_input`. Edit tools are `write_file` and `replace`
(`file_path`, possibly relative to `cwd`); the shell tool is `run_shell_command` (`command`,
and `dir_path`, the directory it runs in). stdout holds only JSON, exit 0: BeforeTool denies
with `{"decision": "deny", "reason": ...}`; AfterTool, SessionStart and BeforeAgent add
`hookSpecificOutput.additionalContext`; AfterAgent answers `decision: deny` once to send the
reminder of open requests back as a new prompt (`stop_hook_active` prevents a loop).
The decision is gitwarden.coordination.tool_guard's (through tool_call).
"""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

EDIT_TOOLS = frozenset({"write_file", "replace", "edit"})
SHELL_TOOLS = frozenset({"run_shell_command"})


def request_of(payload: dict[str, Any]) -> tuple[str, str, list[str], str | None]:
    """(cwd the call acts in, kind, paths written, shell command) of a Gemini tool call."""
    import os

    from gitwarden.coordination.tool_guard import EDIT, OTHER, SHELL

    cwd = os.path.realpath(str(payload.get("cwd") or os.getcwd()))
    tool = str(payload.get("tool_name") or "")
    tool_input = payload.get("tool_input")
    tool_input = tool_input if isinstance(tool_input, dict) else {}
    if tool in EDIT_TOOLS:
        path = tool_input.get("file_path") or tool_input.get("absolute_path")
        return cwd, EDIT, ([os.path.join(cwd, os.path.expanduser(str(path)))]
                           if path else []), None
    if tool in SHELL_TOOLS:
        directory = tool_input.get("dir_path") or tool_input.get("directory")
        where = os.path.join(cwd, str(directory)) if directory else cwd
        command = tool_input.get("command")
        return where, SHELL, [], command if isinstance(command, str) else None
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
    payload = read_hook_payload(stdin or sys.stdin, "gemini")
    if payload is None:
        return 2  # cannot decide: fail closed (exit 2 blocks; stderr says why)
    event = str(payload.get("hook_event_name") or "BeforeTool")
    cwd, kind, paths, command = request_of(payload)
    output: dict[str, Any] = {}
    if event == "BeforeTool":
        decision = decide_call(cwd, kind, paths, command)
        if not decision.allow:
            output = {"decision": "deny", "reason": decision.reason or "denied by gitwarden"}
    elif event == "AfterTool":
        if kind != "other":
            output = context_output(event, changed_context(cwd, kind, paths))
    elif event in ("SessionStart", "BeforeAgent"):
        output = context_output(event, agent_context(cwd))
    elif event == "AfterAgent":
        reminder = stop_reminder(cwd, bool(payload.get("stop_hook_active")))
        if reminder:
            output = {"decision": "deny", "reason": reminder}
    json.dump(output, sink)
    sink.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
