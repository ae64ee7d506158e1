"""The opencode guard: `gitwarden hook opencode`, called by the plugin gitwarden writes to
`.opencode/plugins/gitwarden.js` (gitwarden.integrations.opencode_plugin); protocol
translation only.

Protocol followed: opencode plugins (https://opencode.ai/docs/plugins/, anomalyco/opencode
packages/plugin/src/index.ts, 2026): `tool.execute.before(input: {tool, sessionID, callID},
output: {args})` blocks a call by throwing an Error, `tool.execute.after(input, output:
{title, output, metadata})` may append to `output.output`. Built-in tools: `edit`, `write`,
`multiedit` (`filePath`), `bash` (`command`, optional `workdir`), `apply_patch`/`patch`
(`patchText`, Codex patch format). The plugin sends `{hook_event_name, tool, args, cwd}` on
stdin; this prints `{"decision": "deny", "reason"}`, `{"context": TEXT}` or `{}`, exit 0
(any other exit or output makes the plugin refuse the call: fail closed).
"""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

EDIT_TOOLS = frozenset({"edit", "write", "multiedit"})
PATCH_TOOLS = frozenset({"apply_patch", "patch"})
SHELL_TOOLS = frozenset({"bash"})


def request_of(payload: dict[str, Any]) -> tuple[str, str, list[str], str | None]:
    """(cwd the call acts in, kind, paths written, shell command) of an opencode tool call."""
    import os

    from gitwarden.coordination.tool_guard import EDIT, OTHER, SHELL
    from gitwarden.integrations.tool_call import patch_paths

    cwd = os.path.realpath(str(payload.get("cwd") or os.getcwd()))
    tool = str(payload.get("tool") or "")
    args = payload.get("args")
    args = args if isinstance(args, dict) else {}
    if tool in EDIT_TOOLS:
        path = args.get("filePath") or args.get("file_path")
        return cwd, EDIT, [os.path.join(cwd, str(path))] if path else [], None
    if tool in PATCH_TOOLS:
        return cwd, EDIT, patch_paths(str(args.get("patchText") or ""), cwd), None
    if tool in SHELL_TOOLS:
        workdir = args.get("workdir")
        command = args.get("command")
        return (os.path.join(cwd, str(workdir)) if workdir else cwd, SHELL, [],
                command if isinstance(command, str) else None)
    return cwd, OTHER, [], None


def main(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    from gitwarden.integrations.tool_call import (
        changed_context,
        decide_call,
        read_hook_payload,
    )

    sink = stdout or sys.stdout
    payload = read_hook_payload(stdin or sys.stdin, "opencode")
    if payload is None:
        return 2  # cannot decide: fail closed (exit 2 blocks; stderr says why)
    cwd, kind, paths, command = request_of(payload)
    output: dict[str, Any] = {}
    if payload.get("hook_event_name") == "tool.execute.after":
        # the after-hook may not carry the arguments: then what changed in the worktree
        context = (changed_context(cwd, kind if paths else "shell", paths)
                   if kind != "other" else None)
        if context:
            output = {"context": context}
    else:
        decision = decide_call(cwd, kind, paths, command)
        if not decision.allow:
            output = {"decision": "deny", "reason": decision.reason or "denied by gitwarden"}
    json.dump(output, sink)
    sink.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
