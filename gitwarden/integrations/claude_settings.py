"""Writing the PreToolUse hook into each agent worktree's `.claude/settings.local.json`:
a per-user file Claude Code never commits (we also add it to info/exclude). Existing settings
and hooks are kept; our entry is recognised by its command and replaced, never duplicated."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from gitwarden.errors import GitwardenError
from gitwarden.git.runner import run_git

SETTINGS = Path(".claude") / "settings.local.json"
# In the state dir: the settings files gitwarden created (uninstall removes only those).
CREATED_LOG = "claude-settings-created"
MATCHER = "Edit|Write|MultiEdit|NotebookEdit|Bash"
# PreToolUse decides; PostToolUse tells the agent at once what a call changed that it may not.
EVENTS = ("PreToolUse", "PostToolUse")
# `gitwarden hook claude` without the CLI's parser: the module runs the same hook, faster.
HOOK_MODULE = "gitwarden.integrations.claude_hook"
# The hook client asks the running daemon and runs the hook module itself when none answers;
# `-I -S`: no site-packages scan, no user paths, nothing of gitwarden imported.
HOOK_CLIENT = Path(__file__).resolve().with_name("hook_client.py")
_MARKS = ("gitwarden hook claude", HOOK_MODULE, "hook_client.py")


def hook_command(python: str = sys.executable) -> str:
    return f"{shlex.quote(python)} -I -S {shlex.quote(str(HOOK_CLIENT))} claude"


def _is_ours(command: object) -> bool:
    return any(mark in str(command) for mark in _MARKS)


def is_tracked(worktree: Path) -> bool:
    """Whether the settings file is committed in this worktree (then it is not ours to edit)."""

    proc = run_git(["ls-files", "--error-unmatch", "--", SETTINGS.as_posix()], worktree,
                   check=False)
    return proc.returncode == 0


def install(worktree: Path, command: str | None = None, *,
            created_log: Path | None = None) -> Path:
    """Add our hook to the worktree's local settings. A file we create is noted in
    `created_log` so uninstall can delete it again once nothing else is in it."""
    path = worktree / SETTINGS
    existed = path.exists()
    text = _read_text(path)
    settings = _parse(path, text)
    updated = json.loads(json.dumps(settings))
    for event in EVENTS:
        entries = _without_ours(settings, event)
        entries.append({"matcher": MATCHER,
                        "hooks": [{"type": "command", "command": command or hook_command()}]})
        updated.setdefault("hooks", {})[event] = entries
    if updated == settings:
        return path  # already installed: leave the file (and its formatting) alone
    created_dir = not path.parent.exists()
    _write(path, updated, _indent_of(text))
    if not existed and created_log is not None:
        _note_created(created_log, path, created_dir)
    return path


def uninstall(worktree: Path, *, created_log: Path | None = None) -> bool:
    """Remove our hook; a file we created is deleted once nothing else is left in it."""
    path = worktree / SETTINGS
    if not path.exists():
        return False
    text = _read_text(path)
    settings = _parse(path, text)
    found = False
    for event in EVENTS:
        before = settings.get("hooks", {}).get(event, [])
        entries = _without_ours(settings, event)
        if len(entries) == len(before) and not _has_ours(before):
            continue
        found = True
        hooks = settings.setdefault("hooks", {})
        if entries:
            hooks[event] = entries
        else:
            hooks.pop(event, None)
            if not hooks:
                settings.pop("hooks")
    if not found:
        return False
    created, created_dir = _was_created(created_log, path)
    if not settings and created:
        path.unlink()
        if created_dir:
            with contextlib.suppress(OSError):  # not empty: the user put something there
                path.parent.rmdir()
        _forget_created(created_log, path)
    else:
        _write(path, settings, _indent_of(text))
    return True


def _has_ours(entries: list[Any]) -> bool:
    return any(_is_ours(hook.get("command", ""))
               for entry in entries if isinstance(entry, dict)
               for hook in entry.get("hooks", []) if isinstance(hook, dict))


def _without_ours(settings: dict[str, Any], event: str) -> list[Any]:
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        raise GitwardenError("'hooks' in .claude/settings.local.json is not an object")
    entries = hooks.get(event, [])
    if not isinstance(entries, list):
        raise GitwardenError(f"'hooks.{event}' in .claude/settings.local.json is not a list")
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
    return _parse(path, _read_text(path))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise GitwardenError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}; fix it "
                             "and install again") from exc
    if not isinstance(data, dict):
        raise GitwardenError(f"{path}: expected a JSON object")
    return data


def _indent_of(text: str) -> str | int:
    """The indentation the file already uses (json.dumps keeps key order), default 2."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            return line[:len(line) - len(stripped)]
    return 2


def _write(path: Path, settings: dict[str, Any], indent: str | int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(settings, indent=indent, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    tmp.replace(path)


# --- which settings files gitwarden created (one line per file: "<dir created 0|1> <path>") ---

def _created_entries(log: Path) -> dict[str, bool]:
    try:
        lines = log.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except FileNotFoundError:
        return {}
    entries: dict[str, bool] = {}
    for line in lines:
        flag, _, name = line.partition(" ")
        if name:
            entries[name] = flag == "1"
    return entries


def _save_created(log: Path, entries: dict[str, bool]) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    tmp = log.with_name(f".{log.name}.tmp")
    tmp.write_text("".join(f"{int(d)} {name}\n" for name, d in entries.items()),
                   encoding="utf-8", errors="surrogateescape")
    tmp.replace(log)


def _note_created(log: Path, path: Path, created_dir: bool) -> None:
    entries = _created_entries(log)
    entries[str(path)] = created_dir
    _save_created(log, entries)


def _was_created(log: Path | None, path: Path) -> tuple[bool, bool]:
    if log is None:
        return False, False
    entries = _created_entries(log)
    return str(path) in entries, entries.get(str(path), False)


def _forget_created(log: Path | None, path: Path) -> None:
    if log is None:
        return
    entries = _created_entries(log)
    if entries.pop(str(path), None) is not None:
        _save_created(log, entries)


def is_installed(worktree: Path) -> bool:
    """Whether the worktree's local settings run gitwarden's PreToolUse hook."""
    try:
        settings = _parse(worktree / SETTINGS, _read_text(worktree / SETTINGS))
    except GitwardenError:
        return False
    entries = settings.get("hooks", {}).get("PreToolUse", [])
    return isinstance(entries, list) and _has_ours(entries)
