"""Writing the PreToolUse hook into each agent worktree's `.claude/settings.local.json`:
a per-user file Claude Code never commits (we also add it to info/exclude). Existing settings
and hooks are kept; our entry is recognised by its command and replaced, never duplicated."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from gitwarden.errors import GitwardenError

SETTINGS = Path(".claude") / "settings.local.json"
MATCHER = "Edit|Write|MultiEdit|NotebookEdit|Bash"
# `gitwarden hook claude` without the CLI's parser: the module runs the same hook, faster.
HOOK_MODULE = "gitwarden.integrations.claude_hook"
_MARKS = ("gitwarden hook claude", HOOK_MODULE)


def hook_command(python: str = sys.executable) -> str:
    return f"{shlex.quote(python)} -m {HOOK_MODULE}"


def _is_ours(command: object) -> bool:
    return any(mark in str(command) for mark in _MARKS)


def install(worktree: Path, command: str | None = None) -> Path:
    path = worktree / SETTINGS
    settings = _read(path)
    entries = _without_ours(settings)
    entries.append({"matcher": MATCHER,
                    "hooks": [{"type": "command", "command": command or hook_command()}]})
    settings.setdefault("hooks", {})["PreToolUse"] = entries
    _write(path, settings)
    return path


def uninstall(worktree: Path) -> bool:
    path = worktree / SETTINGS
    if not path.exists():
        return False
    settings = _read(path)
    before = settings.get("hooks", {}).get("PreToolUse", [])
    entries = _without_ours(settings)
    if len(entries) == len(before) and not _has_ours(before):
        return False
    hooks = settings.setdefault("hooks", {})
    if entries:
        hooks["PreToolUse"] = entries
    else:
        hooks.pop("PreToolUse", None)
        if not hooks:
            settings.pop("hooks")
    _write(path, settings)
    return True


def is_installed(worktree: Path) -> bool:
    path = worktree / SETTINGS
    return path.exists() and _has_ours(_read(path).get("hooks", {}).get("PreToolUse", []))


def _has_ours(entries: list[Any]) -> bool:
    return any(_is_ours(hook.get("command", ""))
               for entry in entries if isinstance(entry, dict)
               for hook in entry.get("hooks", []) if isinstance(hook, dict))


def _without_ours(settings: dict[str, Any]) -> list[Any]:
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        raise GitwardenError("'hooks' in .claude/settings.local.json is not an object")
    entries = hooks.get("PreToolUse", [])
    if not isinstance(entries, list):
        raise GitwardenError("'hooks.PreToolUse' in .claude/settings.local.json is not a list")
    kept: list[Any] = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("hooks"), list):
            rest = [h for h in entry["hooks"]
                    if not (isinstance(h, dict) and _is_ours(h.get("command", "")))]
            if not rest:
                continue
            entry = {**entry, "hooks": rest}
        kept.append(entry)
    return kept


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise GitwardenError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}; fix it "
                             "and install again") from exc
    if not isinstance(data, dict):
        raise GitwardenError(f"{path}: expected a JSON object")
    return data


def _write(path: Path, settings: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
