"""The settings of gitwarden.toml as frozen dataclasses, with their defaults; reading and
validating the file is `gitwarden.config`'s job."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

POLICIES = ("notify", "pause", "revert")
AGENT_TOOLS = ("claude", "codex", "gemini", "opencode", "aider", "other")
SYNC_STRATEGIES = ("rebase", "merge")
LAND_STRATEGIES = ("merge", "squash", "rebase")
SEVERITIES = ("info", "warning", "error")
_AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ON_ERROR = ("deny", "allow")
MAX_AGENT_NAME = 100


def agent_name_problem(name: str) -> str | None:
    """Why `name` cannot name an agent, or None. An agent's name is a file name (its worktree,
    its context files) and a component of git ref names (`agent/NAME`,
    `refs/gitwarden/checkpoints/NAME`), so it follows `git check-ref-format` too."""
    if not _AGENT_NAME.match(name):
        return (f"agent name {name!r} must start with a letter or digit and use only letters, "
                "digits, '.', '_' and '-'")
    if len(name) > MAX_AGENT_NAME:
        return f"agent name {name[:20]!r}... is longer than {MAX_AGENT_NAME} characters"
    if ".." in name:
        return f"agent name {name!r} may not contain '..' (git ref names cannot)"
    if name.endswith((".", ".lock")):
        return f"agent name {name!r} may not end with '.' or '.lock' (git ref names cannot)"
    return None


@dataclass(frozen=True)
class AgentConfig:
    name: str
    path: str | None = None
    branch: str | None = None
    scope: tuple[str, ...] = ()
    policy: str = "pause"
    exclude: bool = False
    task: str | None = None
    checkpoint_interval: float | None = None
    auto_revert: bool = True
    tool: str | None = None  # the agent tool running in it (claude, codex, ...): its hooks


@dataclass(frozen=True)
class CheckpointConfig:
    interval: float = 300.0
    keep: int = 200
    keep_clean_days: float = 14.0
    max_untracked_size: int = 1024 * 1024
    # Backup refs (refs/gitwarden/backups/<agent>/...) kept per agent, and for how long.
    keep_backups: int = 20
    backup_max_age: float = 30 * 86400.0
    # The stash: bytes no checkpoint can hold (big untracked, ignored files) saved before a
    # rollback or a removal overwrites or deletes them.
    stash_budget: int = 1024 * 1024 * 1024
    stash_max_age: float = 30 * 86400.0


@dataclass(frozen=True)
class HealthCheck:
    name: str
    command: str
    timeout: float | None = None
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class HealthConfig:
    checks: tuple[HealthCheck, ...] = ()
    timeout: float = 600.0
    on_commit: bool = True
    on_checkpoint: bool = False
    integration: bool = False
    parallel: int = 1
    max_reverts_per_day: int = 3
    revert_max_age: float = 86400.0
    keep_logs: int = 500  # health logs kept: the newest this many ...
    keep_logs_age: float = 14 * 86400.0  # ... and none older than this


@dataclass(frozen=True)
class NotificationConfig:
    enabled: bool = True
    min_severity: str = "warning"
    quiet: bool = False
    rate_limit: float = 60.0
    max_per_minute: int = 6
    desktop: bool = True  # the desktop channel (notify-py)
    command: str | None = None  # run by /bin/sh with GITWARDEN_TITLE/_BODY/_SEVERITY set


@dataclass(frozen=True)
class WatchConfig:
    debounce: float = 0.15
    reconcile_interval: float = 60.0
    poll_interval: float = 2.0
    ignore: tuple[str, ...] = ()
    activity_retention: float = 7 * 86400.0
    activity_max_rows: int = 200_000
    pause_on_violation: bool = False


@dataclass(frozen=True)
class LockConfig:
    default_ttl: float = 1800.0
    stale_after: float = 7200.0


@dataclass(frozen=True)
class BaseConfig:
    remote: str | None = None  # fetch the base from this remote (remote-tracking refs only)
    fetch_interval: float = 300.0


@dataclass(frozen=True)
class SyncConfig:
    strategy: str = "rebase"
    auto: bool = False
    idle: float = 600.0


@dataclass(frozen=True)
class LandConfig:
    strategy: str = "merge"
    on_done: bool = False
    retries: int = 3
    # Advance the base on a remote by a leased push before the local base moves: the remote
    # is [base] remote, else [remote] name (see push_remote).
    push: bool = False

    def push_remote(self, base_remote: str | None, shared: str | None) -> str | None:
        """The remote a landing pushes the base to, or None (a local landing)."""
        return (base_remote or shared) if self.push else None


@dataclass(frozen=True)
class HooksConfig:
    on_error: str = "deny"  # what agent hooks and git guards do when they cannot decide


@dataclass(frozen=True)
class RemoteConfig:
    """[remote]: share presence, checkpoints and locks through refs/gitwarden/ on a remote."""

    name: str = "origin"
    interval: float = 30.0
    machine: str | None = None  # None: the host name


@dataclass(frozen=True)
class RetentionConfig:
    """How long the state store keeps history, and how gitwarden keeps its objects tidy."""

    max_age: float = 30 * 86400.0     # events, resolved overlaps, health history, closed requests
    max_rows: int = 100_000           # per table, newest kept
    undo_window: float = 7 * 86400.0  # rollback records older than this can no longer be undone
    interval: float = 600.0           # how often the daemon applies retention
    # How often the daemon counts loose objects, and how many make it roll them into packs:
    # well under git's gc.auto (6,700), which would make every agent commit run `git gc`.
    repack_interval: float = 60.0
    repack_loose_objects: int = 1000


@dataclass(frozen=True)
class Config:
    base: str | None = None
    main_agent: bool = False
    agents: Mapping[str, AgentConfig] = field(default_factory=dict)
    checkpoints: CheckpointConfig = CheckpointConfig()
    health: HealthConfig = HealthConfig()
    notifications: NotificationConfig = NotificationConfig()
    watch: WatchConfig = WatchConfig()
    locks: LockConfig = LockConfig()
    base_sync: BaseConfig = BaseConfig()
    sync: SyncConfig = SyncConfig()
    land: LandConfig = LandConfig()
    hooks: HooksConfig = HooksConfig()
    remote: RemoteConfig | None = None
    retention: RetentionConfig = RetentionConfig()
    path: Path | None = None

    def agent(self, name: str) -> AgentConfig:
        return self.agents.get(name) or AgentConfig(name=name)
