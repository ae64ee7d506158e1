"""What the agent hooks do when they cannot decide, and the events they leave behind.

Loaded only off the hot path (an error, a refused identity claim). The `[hooks] on_error`
setting is read from the raw TOML, so that a gitwarden.toml failing validation elsewhere
still says whether the user opted out of failing closed.
"""

from __future__ import annotations

import os
import sqlite3
import tomllib
from pathlib import Path

from gitwarden.agents.identity import find_worktree
from gitwarden.errors import ConfigError
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event

ON_ERROR_CHOICES = ("deny", "allow")


def on_error_setting(cwd: str) -> tuple[str | None, str]:
    """(common dir or None, "deny" | "allow") for the repository holding `cwd`; anything that
    cannot be read means the default, deny."""
    location = find_worktree(cwd) if os.path.exists(cwd) else None
    if location is None:
        return None, "deny"
    try:
        with open(os.path.join(location.main_worktree, "gitwarden.toml"), "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return location.common_dir, "deny"
    hooks = data.get("hooks")
    value = hooks.get("on_error") if isinstance(hooks, dict) else None
    return location.common_dir, "allow" if value == "allow" else "deny"


def problem_and_fix(exc: BaseException) -> tuple[str, str]:
    """What went wrong, and what the user does about it, for a deny reason."""
    text = f"{exc}".strip() or type(exc).__name__
    if isinstance(exc, ConfigError):
        return text, "fix gitwarden.toml (`gitwarden status` shows the same error)"
    if isinstance(exc, sqlite3.DatabaseError):
        return (f"the state database cannot be read ({text})",
                "ask the user to move <git dir>/gitwarden/state.db away (gitwarden starts a "
                "new one) or restore it from a backup")
    if type(exc).__name__ == "HookInputError":
        return text, ("the agent tool sent something that is not a hook call; update the tool "
                      "or reinstall with `gitwarden hooks install --claude`")
    if isinstance(exc, LookupError):
        return text, "start the agent inside its own worktree"
    return (f"{type(exc).__name__}: {text}",
            "see hook-errors.log in <git dir>/gitwarden/ and report it")


def record_refused_claim(root: str, agent: str, claimed: str, reason: str) -> None:
    """Log that a call from agent `agent`'s worktree claimed to be `claimed`."""
    with Store.open(locate_repo(Path(root))) as store:
        record_event(store, EventKind.IDENTITY_REFUSED,
                     f"refused a call from agent {agent}'s worktree claiming to be {claimed}",
                     agent=agent, severity="warning",
                     data={"claimed": claimed, "reason": reason})
