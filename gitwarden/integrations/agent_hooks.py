"""Which agent tool runs in a worktree, and installing/removing that tool's gitwarden hooks.

The tool is the agent's `[agents.NAME] tool` setting, else detected from the tool's own
directory in the worktree (`.codex/`, `.gemini/`, `.opencode/`, `.claude/`), else the tools the
user last installed with `gitwarden hooks install` (kept in the state dir, so an agent added
later gets the same hooks). Aider and other tools without hooks get none: the git guards and
the watcher cover them.
"""

from __future__ import annotations

from pathlib import Path

from gitwarden.errors import UsageError
from gitwarden.integrations import claude_settings, opencode_plugin

HOOKED_TOOLS = ("claude", "codex", "gemini", "opencode")
INSTALLED_LOG = "agent-hooks-installed"  # in the state dir: tools `hooks install` covered
_MARKERS = ((".codex", "codex"), (".gemini", "gemini"), (".opencode", "opencode"),
            (".claude", "claude"))


def detect_tool(worktree: Path) -> str | None:
    for directory, tool in _MARKERS:
        if (worktree / directory).is_dir():
            return tool
    return None


def installed_tools(state_dir: Path) -> list[str]:
    try:
        names = (state_dir / INSTALLED_LOG).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return []
    return [name for name in names if name in HOOKED_TOOLS]


def remember_installed(state_dir: Path, tools: list[str], installed: bool) -> None:
    known = installed_tools(state_dir)
    if installed:
        known += [tool for tool in tools if tool not in known]
    else:
        known = [tool for tool in known if tool not in tools]
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / INSTALLED_LOG
    if known:
        path.write_text("".join(f"{tool}\n" for tool in known), encoding="utf-8")
    else:
        path.unlink(missing_ok=True)


def tools_for(worktree: Path, configured: str | None, state_dir: Path) -> list[str]:
    """The hooked tools to install for one agent (empty for aider and other tools)."""
    if configured:
        return [configured] if configured in HOOKED_TOOLS else []
    detected = detect_tool(worktree)
    if detected:
        return [detected]
    return installed_tools(state_dir)


def settings_path(worktree: Path, tool: str) -> Path:
    if tool == "opencode":
        return worktree / opencode_plugin.PLUGIN
    return worktree / claude_settings.TOOLS[tool].settings


def exclude_patterns() -> tuple[str, ...]:
    """The files we write into worktrees, for info/exclude (they are per-user)."""
    return (*(f"/{tool.settings.as_posix()}" for tool in claude_settings.TOOLS.values()),
            f"/{opencode_plugin.PLUGIN.as_posix()}")


def preflight(worktree: Path, tool: str) -> str | None:
    """Why `tool`'s hooks cannot be installed into `worktree` (checked for every agent before
    any file is written), or None."""
    if tool == "opencode":
        path = worktree / opencode_plugin.PLUGIN
        if path.exists() and not opencode_plugin.is_ours(path):
            return f"{path} exists and was not written by gitwarden: move it away"
        return None
    spec = claude_settings.TOOLS[tool]
    if claude_settings.is_tracked(worktree, spec):
        return (f"{worktree / spec.settings} is committed to git; gitwarden does not edit "
                "committed files: untrack it (git rm --cached) or add the hook "
                f"`gitwarden hook {tool}` to it yourself")
    return None


def install(worktree: Path, tool: str, created_log: Path) -> str:
    """Install `tool`'s hooks into `worktree`; the line to print about it."""
    problem = preflight(worktree, tool)
    if problem:
        raise UsageError(problem)
    if tool == "opencode":
        return f"opencode plugin in {opencode_plugin.install(worktree)}"
    spec = claude_settings.TOOLS[tool]
    path = claude_settings.install(worktree, created_log=created_log, tool=spec)
    note = ("; Codex runs it only once you trust it in /hooks" if tool == "codex" else
            "; Gemini CLI asks you to trust changed project hooks" if tool == "gemini" else "")
    return f"{spec.label} hooks in {path}{note}"


def uninstall(worktree: Path, tool: str, created_log: Path) -> str | None:
    if tool == "opencode":
        return "removed the opencode plugin" if opencode_plugin.uninstall(worktree) else None
    spec = claude_settings.TOOLS[tool]
    if claude_settings.uninstall(worktree, created_log=created_log, tool=spec):
        return f"removed the {spec.label} hooks"
    return None


def is_installed(worktree: Path, tool: str) -> bool:
    if tool == "opencode":
        return opencode_plugin.is_installed(worktree)
    return claude_settings.is_installed(worktree, claude_settings.TOOLS[tool])


def outdated(worktree: Path, tool: str) -> list[str]:
    """What of `tool`'s installed hooks in `worktree` does not run the hook client: the old
    commands (the opencode plugin file), for `gitwarden doctor` to name."""
    if tool == "opencode":
        return [str(worktree / opencode_plugin.PLUGIN)] \
            if opencode_plugin.is_outdated(worktree) else []
    return claude_settings.outdated_commands(worktree, claude_settings.TOOLS[tool])
