"""Checks of the repository and gitwarden's state in it: the config, the hooks in each agent's
worktree, git lock files nobody holds, the state database and the control socket."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable
from functools import partial
from pathlib import Path

from gitwarden.control.socket import lock_held, private_dir, socket_path
from gitwarden.doctor.findings import FAIL, OK, WARN, Finding, Setup
from gitwarden.errors import GitwardenError
from gitwarden.git import lockfiles
from gitwarden.integrations import agent_hooks, claude_settings, git_hooks
from gitwarden.output import for_terminal
from gitwarden.store.db import DB_NAME, Store, read_only_files

HOOKS_FIX = "`gitwarden hooks install` (or `doctor --fix`)"


def check_config(setup: Setup) -> list[Finding]:
    if setup.config_error is not None:
        return [Finding("config", FAIL, setup.config_error,
                        fix="edit gitwarden.toml at the line named; the daemon keeps the last "
                            "good config until then")]
    where = setup.repo.config_path
    return [Finding("config", OK, f"{where.name} is valid" if where.exists()
                    else "no gitwarden.toml: defaults apply")]


def check_hooks(setup: Setup) -> list[Finding]:
    agents = [agent for agent in setup.agents or [] if agent.exists]
    if not agents:
        return [Finding("hooks", OK, "no agent worktrees yet")]
    findings = []
    try:
        directory = git_hooks.hooks_dir(setup.repo.main_worktree, setup.repo.common_dir)
    except GitwardenError as exc:
        return [Finding("hooks", WARN, exc.message)]
    missing_git = [kind for kind in git_hooks.HOOK_KINDS
                   if not git_hooks.is_ours(directory / kind)]
    if missing_git:
        findings.append(Finding(
            "hooks", WARN, f"git guard{'s' if len(missing_git) > 1 else ''} "
            f"{', '.join(missing_git)} not installed in {directory}: agents can commit to "
            "locked files and outside their scope", fix=HOOKS_FIX,
            apply=lambda: "; ".join(git_hooks.install(directory, missing_git))))
    old_git = [kind for kind in git_hooks.HOOK_KINDS
               if git_hooks.is_outdated(directory / kind)]
    if old_git:
        findings.append(Finding(
            "hooks", WARN, f"git guard{'s' if len(old_git) > 1 else ''} {', '.join(old_git)} "
            f"in {directory} from an older gitwarden: they do not run the current hook client "
            "(slower on every commit)", fix="gitwarden hooks install --git (or `doctor --fix`)",
            apply=lambda: "; ".join(git_hooks.install(directory, old_git))))
    for agent in agents:
        findings.extend(_old_tool_hooks(agent.name, agent.path, setup.repo.state_dir))
        tools = agent_hooks.tools_for(agent.path, agent.settings.tool, setup.repo.state_dir)
        if agent.settings.tool and not tools:
            continue  # a tool without hooks (aider, ...): the git guards cover it
        if tools and tools != ["claude"]:
            if not all(agent_hooks.is_installed(agent.path, tool) for tool in tools):
                findings.append(Finding(
                    "hooks", WARN, f"{agent.name}: the {', '.join(tools)} hooks are missing "
                    f"in {agent.path}", fix=f"gitwarden hooks install --{tools[0]}"))
            continue
        if claude_settings.is_installed(agent.path):
            continue
        if claude_settings.is_tracked(agent.path):
            findings.append(Finding("hooks", WARN, f"{agent.name}: no Claude Code hook, and "
                                    f"its {claude_settings.SETTINGS} is committed to git",
                                    fix="add `gitwarden hook claude` to it yourself"))
            continue
        findings.append(Finding(
            "hooks", WARN, f"{agent.name}: the Claude Code hook is missing in {agent.path}: "
            "its edits are not checked against locks and scope before they happen",
            fix=HOOKS_FIX, apply=_installer(agent.path, setup.repo.state_dir)))
    return findings or [Finding("hooks", OK, f"hooks installed in all {len(agents)} "
                                "agent worktree(s)")]


def check_lock_files(setup: Setup) -> list[Finding]:
    locks = lockfiles.inspect(lockfiles.lock_files(setup.repo.common_dir))
    stale = [lock for lock in locks if lock.stale]
    findings = [Finding("lock-files", WARN, f"{lock.path} is held by process "
                        f"{', '.join(map(str, lock.holders))} for {lock.age:.0f}s",
                        fix="if that git command hangs, stop it; gitwarden never removes a "
                            "lock a process holds")
                for lock in locks if lock.holders and lock.age >= lockfiles.STALE_AFTER]
    for lock in stale:
        findings.append(Finding(
            "lock-files", FAIL, f"stale lock file {lock.path} ({lock.age:.0f}s old, held by no "
            "process): git commands in that worktree fail until it is gone",
            fix=f"rm {lock.path} (or `doctor --fix`)",
            apply=partial(_remove_lock, lock)))
    return findings or [Finding("lock-files", OK, "no stale git lock files")]


def check_state(setup: Setup) -> list[Finding]:
    state_dir = setup.repo.state_dir
    if not state_dir.is_dir():
        return [Finding("state", OK, "no state yet (created on first use)")]
    findings = []
    mode = stat.S_IMODE(state_dir.stat().st_mode)
    if mode & 0o077:
        findings.append(Finding("state", FAIL, f"{state_dir} is open to other users (mode "
                                f"{mode:o})", fix=f"chmod 700 {state_dir}",
                                apply=lambda: _chmod(state_dir, 0o700)))
    database = state_dir / DB_NAME
    stuck = read_only_files(database)
    for path, ours in stuck:
        findings.append(Finding(
            "state", FAIL, f"{path} is read-only: every write of gitwarden fails",
            fix=(f"chmod 600 {path} (or `doctor --fix`)" if ours else
                 f"it belongs to another user: stop gitwarden, then `sudo chown $USER {path}`"),
            apply=partial(_chmod, path, 0o600) if ours else None))
    if stuck or not database.exists():
        return findings or [Finding("state", OK, "no state database yet")]
    try:
        with Store(database) as store:
            result = store.conn.execute("PRAGMA quick_check").fetchone()[0]
    except (GitwardenError, sqlite3.Error) as exc:
        return [*findings, Finding("state", FAIL, f"cannot read {database}: {exc}",
                                   fix=f"move it aside (mv {database} {database}.broken); "
                                       "gitwarden starts a new one")]
    if result != "ok":
        findings.append(Finding("state", FAIL, f"{database} is damaged: {result}",
                                fix=f"move it aside (mv {database} {database}.broken)"))
    return findings or [Finding("state", OK, f"{database} is readable and writable")]


def check_socket(setup: Setup) -> list[Finding]:
    try:
        path = socket_path(setup.repo.state_dir)
    except GitwardenError as exc:
        return [Finding("socket", FAIL, exc.message)]
    # The state directory's own mode is the state check's finding.
    problem = private_dir(path.parent, create=False) \
        if path.parent.exists() and path.parent != setup.repo.state_dir else None
    if problem is not None:
        return [Finding("socket", FAIL, f"the control socket's directory: {problem}",
                        fix=f"chmod 700 {path.parent}" if "open to" in problem else
                            "set XDG_RUNTIME_DIR to a directory only you can enter")]
    if not path.exists():
        return [Finding("socket", OK, "no daemon socket (no daemon running)")]
    mode = stat.S_IMODE(path.lstat().st_mode)
    if not lock_held(setup.repo.state_dir):
        return [Finding("socket", WARN, f"{path} is left from a daemon that is gone",
                        fix=f"rm {path} (or `doctor --fix`)",
                        apply=lambda: _remove(path))]
    if mode & 0o077:
        return [Finding("socket", FAIL, f"{path} is open to other users (mode {mode:o})",
                        fix=f"chmod 600 {path} (or `doctor --fix`)",
                        apply=lambda: _chmod(path, 0o600))]
    return [Finding("socket", OK, f"{path} is owner-only")]


def _old_tool_hooks(agent: str, worktree: Path, state_dir: Path) -> list[Finding]:
    """Hook entries written before the hook client (`gitwarden hook claude`, `python -m
    gitwarden.integrations...`): they work, slowly, and never ask the daemon."""
    findings = []
    for tool in agent_hooks.HOOKED_TOOLS:
        old = agent_hooks.outdated(worktree, tool)
        if old:
            reinstall = partial(agent_hooks.install, worktree, tool,
                                state_dir / claude_settings.CREATED_LOG)
            findings.append(Finding(
                "hooks", WARN, f"{agent}: {tool} hooks from an older gitwarden "
                f"({for_terminal(old[0], newlines=False)}) do not run the current hook client: "
                "slower on every tool call, and `gitwarden hook` never asks the daemon",
                fix=f"gitwarden hooks install --{tool} (or `doctor --fix`)", apply=reinstall))
    return findings


def _installer(worktree: Path, state_dir: Path) -> Callable[[], str]:
    def install() -> str:
        path = claude_settings.install(worktree,
                                       created_log=state_dir / claude_settings.CREATED_LOG)
        return f"installed the Claude Code hook in {path}"
    return install


def _remove_lock(lock: lockfiles.LockFile) -> str:
    removed = lockfiles.remove([lock])
    return f"removed {removed[0]}" if removed else f"left {lock.path}: a process holds it now"


def _chmod(path: Path, mode: int) -> str:
    os.chmod(path, mode)
    return f"chmod {mode:o} {path}"


def _remove(path: Path) -> str:
    path.unlink(missing_ok=True)
    return f"removed {path}"
