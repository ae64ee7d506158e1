"""gitwarden.toml: dataclasses, loading with line-precise errors, and rendering agent tables.

The file lives at the root of the main worktree. It is read with tomllib and written with
tomli-w. Every error names the file, the line when it can be found, and what is wrong.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitwarden.config.toml_table import (
    Locator,
    Table,
    boolean,
    choice,
    duration,
    globs,
    interval,
    non_negative_int,
    number,
    or_default,
    positive_int,
    size,
    string,
    string_map,
    syntax_message,
)
from gitwarden.errors import ConfigError

POLICIES = ("notify", "pause", "revert")
SEVERITIES = ("info", "warning", "error")
_AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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


@dataclass(frozen=True)
class CheckpointConfig:
    interval: float = 300.0
    keep: int = 200
    keep_clean_days: float = 14.0
    max_untracked_size: int = 1024 * 1024


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


@dataclass(frozen=True)
class NotificationConfig:
    enabled: bool = True
    min_severity: str = "warning"
    quiet: bool = False
    rate_limit: float = 60.0
    max_per_minute: int = 6


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
    retention: RetentionConfig = RetentionConfig()
    path: Path | None = None

    def agent(self, name: str) -> AgentConfig:
        return self.agents.get(name) or AgentConfig(name=name)


def load_config(path: Path) -> Config:
    """Load and validate gitwarden.toml; a missing file means all defaults."""
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        return Config(path=None)
    except (PermissionError, IsADirectoryError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    text = raw_bytes.decode("utf-8", "replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(syntax_message(path, str(exc))) from exc
    return parse_config(data, path, text)


def parse_config(data: Mapping[str, Any], path: Path, text: str = "") -> Config:
    """Validate a parsed TOML document and build a Config."""
    root = Table(data, (), Locator(path, text))
    base = root.optional("base", string)
    main_agent = root.optional("main_agent", boolean) or False
    agents = {name: _agent(name, table) for name, table in root.subtables("agents")}
    _refuse_shared_paths(agents, root)
    config = Config(
        base=base,
        main_agent=main_agent,
        agents=agents,
        checkpoints=_checkpoints(root.table("checkpoints")),
        health=_health(root.table("health")),
        notifications=_notifications(root.table("notifications")),
        watch=_watch(root.table("watch")),
        locks=_locks(root.table("locks")),
        retention=_retention(root.table("retention")),
        path=path,
    )
    root.finish()
    return config


def _agent(name: str, table: Table) -> AgentConfig:
    if not _AGENT_NAME.match(name):
        table.fail(None, f"agent name {name!r} may use letters, digits, '.', '_' and '-'")
    agent = AgentConfig(
        name=name,
        path=table.optional("path", string),
        branch=table.optional("branch", string),
        scope=table.optional("scope", globs) or (),
        policy=table.optional("policy", choice(POLICIES)) or "pause",
        exclude=table.optional("exclude", boolean) or False,
        task=table.optional("task", string),
        checkpoint_interval=table.optional("checkpoint_interval", interval(1.0)),
        auto_revert=or_default(table.optional("auto_revert", boolean), True),
    )
    table.finish()
    return agent


def _refuse_shared_paths(agents: Mapping[str, AgentConfig], root: Table) -> None:
    seen: dict[str, str] = {}
    for agent in agents.values():
        if not agent.path:
            continue
        key = agent.path.rstrip("/")
        if key in seen:
            root.fail(("agents", agent.name, "path"),
                      f"agents {seen[key]!r} and {agent.name!r} name the same worktree "
                      f"{agent.path!r}")
        seen[key] = agent.name


def location_of(path: Path, keys: tuple[str, ...]) -> str:
    """"gitwarden.toml:LINE" for a key of the file, for errors found after loading."""
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        text = ""
    return Locator(path, text).where(keys)


def _checkpoints(table: Table) -> CheckpointConfig:
    d = CheckpointConfig()
    result = CheckpointConfig(
        interval=or_default(table.optional("interval", interval(1.0)), d.interval),
        keep=or_default(table.optional("keep", positive_int), d.keep),
        keep_clean_days=or_default(table.optional("keep_clean_days", number), d.keep_clean_days),
        max_untracked_size=or_default(table.optional("max_untracked_size", size),
                                    d.max_untracked_size),
    )
    table.finish()
    return result


def _health(table: Table) -> HealthConfig:
    d = HealthConfig()
    checks = tuple(_health_check(name, value, table) for name, value in table.items("checks"))
    result = HealthConfig(
        checks=checks,
        timeout=or_default(table.optional("timeout", duration), d.timeout),
        on_commit=or_default(table.optional("on_commit", boolean), d.on_commit),
        on_checkpoint=or_default(table.optional("on_checkpoint", boolean), d.on_checkpoint),
        integration=or_default(table.optional("integration", boolean), d.integration),
        parallel=or_default(table.optional("parallel", positive_int), d.parallel),
        max_reverts_per_day=or_default(table.optional("max_reverts_per_day", non_negative_int),
                                     d.max_reverts_per_day),
        revert_max_age=or_default(table.optional("revert_max_age", duration), d.revert_max_age),
    )
    table.finish()
    return result


def _health_check(name: str, value: Any, parent: Table) -> HealthCheck:
    if isinstance(value, str):
        if not value.strip():
            parent.fail(("checks", name), f"check {name!r} has an empty command")
        return HealthCheck(name=name, command=value)
    if not isinstance(value, dict):
        parent.fail(("checks", name), f"check {name!r} must be a command string or a table")
    table = Table(value, (*parent.keys, "checks", name), parent.locator)
    command = table.required("command", string)
    env = table.optional("env", string_map) or ()
    check = HealthCheck(name=name, command=command, timeout=table.optional("timeout", duration),
                        env=env)
    table.finish()
    return check


def _notifications(table: Table) -> NotificationConfig:
    d = NotificationConfig()
    result = NotificationConfig(
        enabled=or_default(table.optional("enabled", boolean), d.enabled),
        min_severity=or_default(table.optional("min_severity", choice(SEVERITIES)),
                              d.min_severity),
        quiet=or_default(table.optional("quiet", boolean), d.quiet),
        rate_limit=or_default(table.optional("rate_limit", duration), d.rate_limit),
        max_per_minute=or_default(table.optional("max_per_minute", positive_int),
                                d.max_per_minute),
    )
    table.finish()
    return result


def _watch(table: Table) -> WatchConfig:
    d = WatchConfig()
    result = WatchConfig(
        debounce=or_default(table.optional("debounce", duration), d.debounce),
        reconcile_interval=or_default(table.optional("reconcile_interval", interval(1.0)),
                                    d.reconcile_interval),
        poll_interval=or_default(table.optional("poll_interval", interval(0.1)),
                               d.poll_interval),
        ignore=table.optional("ignore", globs) or (),
        activity_retention=or_default(table.optional("activity_retention", duration),
                                    d.activity_retention),
        activity_max_rows=or_default(table.optional("activity_max_rows", positive_int),
                                   d.activity_max_rows),
        pause_on_violation=or_default(table.optional("pause_on_violation", boolean),
                                    d.pause_on_violation),
    )
    table.finish()
    return result


def _locks(table: Table) -> LockConfig:
    d = LockConfig()
    result = LockConfig(
        default_ttl=or_default(table.optional("default_ttl", duration), d.default_ttl),
        stale_after=or_default(table.optional("stale_after", duration), d.stale_after),
    )
    table.finish()
    return result


def _retention(table: Table) -> RetentionConfig:
    d = RetentionConfig()
    result = RetentionConfig(
        max_age=or_default(table.optional("max_age", interval(1.0)), d.max_age),
        max_rows=or_default(table.optional("max_rows", positive_int), d.max_rows),
        undo_window=or_default(table.optional("undo_window", duration), d.undo_window),
        interval=or_default(table.optional("interval", interval(1.0)), d.interval),
        repack_interval=or_default(table.optional("repack_interval", interval(1.0)),
                                   d.repack_interval),
        repack_loose_objects=or_default(table.optional("repack_loose_objects",
                                                       non_negative_int),
                                        d.repack_loose_objects),
    )
    table.finish()
    return result


# --- value parsers: each returns the value or raises ValueError with what is wrong -----------


# --- tables with key tracking and located errors --------------------------------------------


# --- writing ----------------------------------------------------------------------------------

def render_agent_table(agent: AgentConfig) -> str:
    """The TOML text of one [agents.NAME] table, for appending to a commented file."""
    import tomli_w  # lazy: the agent hook reads config and never writes it

    body: dict[str, Any] = {}
    if agent.path:
        body["path"] = agent.path
    if agent.branch:
        body["branch"] = agent.branch
    if agent.scope:
        body["scope"] = list(agent.scope)
    if agent.task:
        body["task"] = agent.task
    if agent.policy != "pause":
        body["policy"] = agent.policy
    return tomli_w.dumps({"agents": {agent.name: body}})
