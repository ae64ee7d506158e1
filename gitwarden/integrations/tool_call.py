"""One agent-tool call, tool-neutral: the glue every hook adapter shares.

Adapters (codex_hook, gemini_hook, opencode_hook, claude_context; claude_hook predates this
module and asks the core itself) translate their tool's JSON into (cwd, kind, paths, command)
and call `decide_call`; the decision itself is made only by gitwarden.coordination.tool_guard.
The place (which agent, from the real path of `cwd`) and the facts (locks, scope, pause) are
read by claude_hook's readers, so a faster reader there speeds every adapter. When the call
cannot be decided, `decide_call` denies with the problem and its fix unless `[hooks] on_error =
"allow"`.
Runs on every tool call: imports are lazy and nothing heavy is loaded.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

PATCH_HEADERS = ("*** Add File: ", "*** Update File: ", "*** Delete File: ", "*** Move to: ")


def read_hook_payload(stream: IO[str], tool: str) -> dict[str, Any] | None:
    """The JSON object an agent tool's hook sends on stdin; None (after telling stderr what
    is wrong and how to fix it) when it is not one: the adapter then fails closed."""
    import json

    try:
        payload = json.loads(stream.read() or "{}")
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        print(f"gitwarden hook {tool}: the input is not a JSON object ({exc}); reinstall "
              f"with `gitwarden hooks install --{tool}`", file=sys.stderr)
        return None
    return payload


def context_output(event: str, text: str | None) -> dict[str, Any]:
    """The Claude-shaped output that adds `text` to the agent's context ({} for none): Claude
    Code, Codex and Gemini CLI all read `hookSpecificOutput.additionalContext`."""
    if not text:
        return {}
    return {"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}}


def patch_paths(patch: str, cwd: str) -> list[str]:
    """Every path an apply_patch envelope (Codex format) writes, absolute: the Add, Update,
    Delete and Move-to headers, resolved against `cwd` like Codex resolves them."""
    paths: list[str] = []
    for line in patch.splitlines():
        for header in PATCH_HEADERS:
            if line.startswith(header):
                name = line[len(header):].strip()
                if name:
                    full = os.path.normpath(os.path.join(cwd, os.path.expanduser(name)))
                    if full not in paths:
                        paths.append(full)
    return paths


def decide_call(cwd: str, kind: str, paths: list[str] | None = None,
                command: str | None = None) -> Any:
    """The tool_guard decision for one normalized call made from `cwd` (fails closed)."""
    payload = {"cwd": cwd}
    try:
        return _decide(cwd, kind, paths or [], command)
    except Exception as exc:
        return _undecidable(exc, payload, kind)


def _decide(cwd: str, kind: str, paths: list[str], command: str | None) -> Any:
    from gitwarden.coordination.tool_guard import ALLOW, OTHER, ToolRequest, decide
    from gitwarden.integrations.claude_hook import _facts, _record_refused_claim, resolve_place

    place = resolve_place({"cwd": cwd})
    if place is None or (kind == OTHER and not place.claimed):
        return ALLOW
    real_cwd = os.path.realpath(cwd)
    request = ToolRequest(place.agent, kind, real_cwd, paths=paths, command=command,
                          claimed=place.claimed)
    decision = decide(request, _facts(place))
    if not decision.allow and place.claimed and place.claimed != place.agent:
        _record_refused_claim(place, str(decision.reason))
    return decision


def _undecidable(exc: BaseException, payload: dict[str, Any], kind: str) -> Any:
    from gitwarden.coordination.tool_guard import ALLOW, OTHER, deny
    from gitwarden.integrations.claude_hook import _log_failure
    from gitwarden.integrations.hook_errors import on_error_setting, problem_and_fix

    common_dir, setting = on_error_setting(str(payload.get("cwd") or os.getcwd()))
    if setting == "allow" or kind == OTHER:
        _log_failure(exc, common_dir, "allowing the tool call")
        return ALLOW
    problem, fix = problem_and_fix(exc)
    _log_failure(exc, common_dir, "denying the tool call")
    return deny(f"gitwarden cannot check this tool call: {problem}. Fix: {fix}. Until then "
                "gitwarden refuses edits and commands (the user can set [hooks] on_error = "
                "\"allow\" in gitwarden.toml to let them through instead).")


def changed_context(cwd: str, kind: str, paths: list[str] | None = None,
                    duration_ms: float | None = None) -> str | None:
    """After a call: what it changed that the agent may not (with how to undo it), or None.
    Never raises: the call has already run, a failure is logged."""
    from gitwarden.coordination.tool_guard import EDIT
    from gitwarden.integrations.claude_hook import _log_failure, post_tool_use

    try:
        if kind == EDIT:
            notes = [post_tool_use({"cwd": cwd, "tool_name": "Write",
                                    "tool_input": {"file_path": path}}) for path in paths or []]
            text = "\n".join(note for note in notes if note)
            return text or None
        payload: dict[str, Any] = {"cwd": cwd, "tool_name": "Bash", "tool_input": {}}
        if duration_ms is not None:
            payload["duration_ms"] = duration_ms
        return post_tool_use(payload)
    except Exception as exc:
        _log_failure(exc, None, "after-call check skipped")
        return None


def agent_context(cwd: str) -> str | None:
    """What the agent working in `cwd` should know now (assignment, pause, open requests to
    it, locks others hold in its scope, how far its base moved), or None for the user."""
    from gitwarden.integrations.agent_context import context_for
    from gitwarden.integrations.claude_hook import _log_failure

    try:
        return context_for(cwd)
    except Exception as exc:
        _log_failure(exc, None, "agent context skipped")
        return None


def stop_reminder(cwd: str, already_reminded: bool) -> str | None:
    """At the end of the agent's turn: checkpoint it, and return a reminder of its unanswered
    requests unless it was already reminded in this stop (no loop), else None."""
    from gitwarden.integrations.agent_context import checkpoint_and_remind
    from gitwarden.integrations.claude_hook import _log_failure

    try:
        return checkpoint_and_remind(cwd, already_reminded)
    except Exception as exc:
        _log_failure(exc, None, "stop check skipped")
        return None
