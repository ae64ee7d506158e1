"""The Claude Code hook for SessionStart, UserPromptSubmit and Stop: `gitwarden hook
claude-context`, protocol translation only (tool calls go to claude_hook).

Protocol followed: Claude Code hooks reference (https://code.claude.com/docs/en/hooks, copy
of 2026-08-22, Claude Code v2.1.x). SessionStart and UserPromptSubmit: the agent's context
(gitwarden.integrations.agent_context) as `hookSpecificOutput.additionalContext`, exit 0.
Stop: the agent is checkpointed; when requests to it are unanswered, `{"decision": "block",
"reason": ...}` makes Claude go on and handle them, once: `stop_hook_active` is true when
this stop follows a block by a Stop hook, and then nothing is blocked again.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


def main(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    from gitwarden.integrations.tool_call import agent_context, stop_reminder

    sink = stdout or sys.stdout
    try:
        payload: Any = json.loads((stdin or sys.stdin).read() or "{}")
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        # context only: nothing to refuse, the session goes on without it
        print(f"gitwarden hook claude-context: the hook input is not a JSON object ({exc})",
              file=sys.stderr)
        return 1
    event = str(payload.get("hook_event_name") or "")
    cwd = os.path.realpath(str(payload.get("cwd") or os.getcwd()))
    if event == "Stop":
        reminder = stop_reminder(cwd, bool(payload.get("stop_hook_active")))
        if reminder:
            json.dump({"decision": "block", "reason": reminder}, sink)
            sink.write("\n")
        return 0
    if event in ("SessionStart", "UserPromptSubmit"):
        text = agent_context(cwd)
        if text:
            json.dump({"hookSpecificOutput": {"hookEventName": event,
                                              "additionalContext": text}}, sink)
            sink.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
