"""Writing gitwarden's hooks into an agent tool's settings file in each agent worktree:
Claude Code's `.claude/settings.local.json` (a per-user file it never commits), Codex's
`.codex/hooks.json`, Gemini CLI's `.gemini/settings.json` (all in info/exclude). They share one
JSON shape, `{"hooks": {EVENT: [{"matcher": ..., "hooks": [{"type": "command", ...}]}]}}`;
the events, matchers and handler fields of each tool are in HookTool. Existing settings and
hooks are kept; our entries are recognised by their command and replaced, never duplicated."""

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


class HookTool:
    """One agent tool's hook settings: file (relative to the worktree), events with their
    matcher (None: the event takes none), the adapter module and extra handler fields."""

    def __init__(self, name: str, label: str, settings: Path,
                 events: tuple[tuple[str, str | None], ...], module: str,
                 extra: dict[str, Any], event_modules: dict[str, str] | None = None) -> None:
        self.event_modules = event_modules or {}
        self.name = name
        self.label = label
        self.settings = settings
        self.events = events
        self.module = module
        self.extra = extra

    def marks(self) -> tuple[str, ...]:
        return (f"gitwarden hook {self.name}", self.module, *self.event_modules.values(),
                f"hook_client.py {self.name}", f"{HOOK_CLIENT.name} {self.name}")


# The hook client asks the running daemon and runs the hook module itself when none answers;
# `-I -S`: no site-packages scan, no user paths, nothing of gitwarden imported.
HOOK_CLIENT = Path(__file__).resolve().with_name("run_hook_client.py")


# Claude Code hooks reference (code.claude.com/docs/en/hooks, 2026-08-22); timeout in seconds.
CLAUDE = HookTool("claude", "Claude Code", SETTINGS,
                  (("PreToolUse", MATCHER), ("PostToolUse", MATCHER), ("SessionStart", None),
                   ("UserPromptSubmit", None), ("Stop", None)), HOOK_MODULE, {},
                  {event: "gitwarden.integrations.claude_context"
                   for event in ("SessionStart", "UserPromptSubmit", "Stop")})
# Codex hooks (developers.openai.com/codex/hooks, 2026-05-22): matcher is a regex; Edit and
# Write are aliases of apply_patch; timeout in seconds.
CODEX_MATCHER = "^(Bash|apply_patch|Edit|Write)$"
CODEX = HookTool("codex", "Codex CLI", Path(".codex") / "hooks.json",
                 (("PreToolUse", CODEX_MATCHER), ("PostToolUse", CODEX_MATCHER),
                  ("SessionStart", None), ("UserPromptSubmit", None), ("Stop", None)),
                 "gitwarden.integrations.codex_hook", {"timeout": 30})
# Gemini CLI hooks (geminicli.com/docs/hooks, 0.56, 2026-08-21): timeout in milliseconds.
GEMINI_MATCHER = "write_file|replace|run_shell_command"
GEMINI = HookTool("gemini", "Gemini CLI", Path(".gemini") / "settings.json",
                  (("BeforeTool", GEMINI_MATCHER), ("AfterTool", GEMINI_MATCHER),
                   ("SessionStart", None), ("BeforeAgent", None), ("AfterAgent", None)),
                  "gitwarden.integrations.gemini_hook", {"name": "gitwarden", "timeout": 30000})
TOOLS = {tool.name: tool for tool in (CLAUDE, CODEX, GEMINI)}


# The hook client's kind for each adapter module (hook_client.FALLBACK runs the module).
CLIENT_KINDS = {HOOK_MODULE: "claude", "gitwarden.integrations.claude_context": "claude-context",
                "gitwarden.integrations.codex_hook": "codex",
                "gitwarden.integrations.gemini_hook": "gemini",
                "gitwarden.integrations.opencode_hook": "opencode"}


def hook_command(python: str = sys.executable, module: str = HOOK_MODULE) -> str:
    """The command a tool runs for a hook: the small client (the warm daemon answers; with
    no daemon it runs the adapter module itself)."""
    if module in CLIENT_KINDS:
        return (f"{shlex.quote(python)} -I -S {shlex.quote(str(HOOK_CLIENT))} "
                f"{CLIENT_KINDS[module]}")
    return f"{shlex.quote(python)} -m {module}"


def _is_ours(command: object, tool: HookTool = CLAUDE) -> bool:
    return any(mark in str(command) for mark in tool.marks())


def is_tracked(worktree: Path, tool: HookTool = CLAUDE) -> bool:
    """Whether the settings file is committed in this worktree (then it is not ours to edit)."""

    proc = run_git(["ls-files", "--error-unmatch", "--", tool.settings.as_posix()], worktree,
                   check=False)
    return proc.returncode == 0


def install(worktree: Path, command: str | None = None, *,
            created_log: Path | None = None, tool: HookTool = CLAUDE) -> Path:
    """Add our hooks to the worktree's settings for `tool`. A file we create is noted in
    `created_log` so uninstall can delete it again once nothing else is in it."""
    path = worktree / tool.settings
    existed = path.exists()
    text = _read_text(path)
    settings = _parse(path, text)
    updated = json.loads(json.dumps(settings))
    for event, matcher in tool.events:
        module = tool.event_modules.get(event)
        handler = {"type": "command", "command": hook_command(module=module) if module
                   else command or hook_command(module=tool.module), **tool.extra}
        entries = _without_ours(settings, event, tool)
        entry: dict[str, Any] = {"matcher": matcher} if matcher is not None else {}
        entries.append({**entry, "hooks": [handler]})
        updated.setdefault("hooks", {})[event] = entries
    if updated == settings:
        return path  # already installed: leave the file (and its formatting) alone
    created_dir = not path.parent.exists()
    _write(path, updated, _indent_of(text))
    if not existed and created_log is not None:
        _note_created(created_log, path, created_dir)
    return path


def uninstall(worktree: Path, *, created_log: Path | None = None,
              tool: HookTool = CLAUDE) -> bool:
    """Remove our hooks; a file we created is deleted once nothing else is left in it."""
    path = worktree / tool.settings
    if not path.exists():
        return False
    text = _read_text(path)
    settings = _parse(path, text)
    found = False
    for event, _ in tool.events:
        before = settings.get("hooks", {}).get(event, [])
        entries = _without_ours(settings, event, tool)
        if len(entries) == len(before) and not _has_ours(before, tool):
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


def _has_ours(entries: list[Any], tool: HookTool = CLAUDE) -> bool:
    return any(_is_ours(hook.get("command", ""), tool)
               for entry in entries if isinstance(entry, dict)
               for hook in entry.get("hooks", []) if isinstance(hook, dict))


def _without_ours(settings: dict[str, Any], event: str, tool: HookTool = CLAUDE) -> list[Any]:
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        raise GitwardenError(f"'hooks' in {tool.settings} is not an object")
    entries = hooks.get(event, [])
    if not isinstance(entries, list):
        raise GitwardenError(f"'hooks.{event}' in {tool.settings} is not a list")
    kept: list[Any] = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("hooks"), list):
            rest = [h for h in entry["hooks"]
                    if not (isinstance(h, dict) and _is_ours(h.get("command", ""), tool))]
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


def is_installed(worktree: Path, tool: HookTool = CLAUDE) -> bool:
    """Whether the worktree's settings for `tool` run gitwarden's tool-call hook."""
    try:
        settings = _parse(worktree / tool.settings, _read_text(worktree / tool.settings))
    except GitwardenError:
        return False
    hooks = settings.get("hooks", {})
    entries = hooks.get(tool.events[0][0], []) if isinstance(hooks, dict) else []
    return isinstance(entries, list) and _has_ours(entries, tool)


def outdated_commands(worktree: Path, tool: HookTool = CLAUDE) -> list[str]:
    """Our hook commands in the worktree's settings for `tool` that do not run the hook
    client's script (say `gitwarden hook claude` from before the client: a full interpreter
    and the CLI's imports on every tool call, with no daemon to answer)."""
    try:
        settings = _parse(worktree / tool.settings, _read_text(worktree / tool.settings))
    except GitwardenError:
        return []
    hooks = settings.get("hooks", {})
    found: list[str] = []
    for event, _ in tool.events:
        entries = hooks.get(event, []) if isinstance(hooks, dict) else []
        for entry in entries if isinstance(entries, list) else []:
            for hook in entry.get("hooks", []) if isinstance(entry, dict) else []:
                command = str(hook.get("command", "")) if isinstance(hook, dict) else ""
                if _is_ours(command, tool) and f"{HOOK_CLIENT.name} " not in command and \
                        command not in found:
                    found.append(command)
    return found
