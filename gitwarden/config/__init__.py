"""gitwarden.toml: dataclasses, loading with line-precise errors, and rendering agent tables.

The file lives at the root of the main worktree. It is read with tomllib and written with
tomli-w. Every error names the file, the line when it can be found, and what is wrong.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from gitwarden.config.model import (
    _AGENT_NAME,
    AGENT_TOOLS,
    LAND_STRATEGIES,
    MAX_AGENT_NAME,
    ON_ERROR,
    POLICIES,
    SEVERITIES,
    SYNC_STRATEGIES,
    AgentConfig,
    BaseConfig,
    CheckpointConfig,
    Config,
    HealthCheck,
    HealthConfig,
    HooksConfig,
    LandConfig,
    LockConfig,
    NotificationConfig,
    RemoteConfig,
    RetentionConfig,
    SyncConfig,
    WatchConfig,
    agent_name_problem,
)
from gitwarden.config.toml_table import (
    Locator,
    Table,
    at_most,
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

__all__ = [
    "AGENT_TOOLS",
    "LAND_STRATEGIES",
    "MAX_AGENT_NAME",
    "ON_ERROR",
    "POLICIES",
    "SEVERITIES",
    "SYNC_STRATEGIES",
    "AgentConfig",
    "BaseConfig",
    "CheckpointConfig",
    "Config",
    "HealthCheck",
    "HealthConfig",
    "HooksConfig",
    "LandConfig",
    "LockConfig",
    "NotificationConfig",
    "RemoteConfig",
    "RetentionConfig",
    "SyncConfig",
    "WatchConfig",
    "agent_name_problem",
    "load_config",
    "location_of",
    "parse_config",
    "render_agent_table",
]

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
    # `base = "main"`, or a [base] table: its branch and the remote it is fetched from.
    base_sync = BaseConfig()
    if isinstance(data.get("base"), dict):
        base_table = root.table("base")
        base = base_table.optional("branch", string)
        base_sync = _base_sync(base_table)
    else:
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
        base_sync=base_sync,
        sync=_sync(root.table("sync")),
        land=_land(root.table("land")),
        hooks=_hooks(root.table("hooks")),
        remote=_remote(root.table("remote")) if "remote" in data else None,
        retention=_retention(root.table("retention")),
        path=path,
    )
    if config.land.push and not (base_sync.remote or config.remote):
        root.table("land").fail("push", "push = true needs a remote to push the base to: "
                                "set [base] remote (or [remote] name)")
    root.finish()
    return config


def _agent(name: str, table: Table) -> AgentConfig:
    problem = agent_name_problem(name)
    if problem:
        table.fail(None, problem)
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
        tool=table.optional("tool", choice(AGENT_TOOLS)),
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
        keep_backups=or_default(table.optional("keep_backups", positive_int), d.keep_backups),
        backup_max_age=or_default(table.optional("backup_max_age", duration),
                                  d.backup_max_age),
        stash_budget=or_default(table.optional("stash_budget", size), d.stash_budget),
        stash_max_age=or_default(table.optional("stash_max_age", duration), d.stash_max_age),
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
    keep_logs = table.optional("keep_logs", _keep_logs)
    if keep_logs is not None:
        count, age = keep_logs
        result = replace(result, keep_logs=or_default(count, d.keep_logs),
                         keep_logs_age=or_default(age, d.keep_logs_age))
    table.finish()
    return result


def _keep_logs(value: Any) -> tuple[int | None, float | None]:
    """`keep_logs = 500` (how many) or `keep_logs = { count = 500, age = "14d" }`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return positive_int(value), None
    if not isinstance(value, dict):
        raise ValueError("expected a number of logs or a table { count = N, age = \"14d\" }, "
                         f"got {value!r}")
    unknown = sorted(set(value) - {"count", "age"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (keep_logs takes count and age)")
    count = positive_int(value["count"]) if "count" in value else None
    age = duration(value["age"]) if "age" in value else None
    return count, age


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
        desktop=or_default(table.optional("desktop", boolean), d.desktop),
        command=table.optional("command", string) or None,
    )
    table.finish()
    return result


def _watch(table: Table) -> WatchConfig:
    d = WatchConfig()
    result = WatchConfig(
        debounce=or_default(table.optional("debounce", at_most(10.0, duration)), d.debounce),
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


def _base_sync(table: Table) -> BaseConfig:
    d = BaseConfig()
    result = BaseConfig(
        remote=table.optional("remote", string),
        fetch_interval=or_default(table.optional("fetch_interval", interval(5.0)),
                                  d.fetch_interval),
    )
    table.finish()
    return result


def _sync(table: Table) -> SyncConfig:
    d = SyncConfig()
    result = SyncConfig(
        strategy=or_default(table.optional("strategy", choice(SYNC_STRATEGIES)), d.strategy),
        auto=or_default(table.optional("auto", boolean), d.auto),
        idle=or_default(table.optional("idle", interval(1.0)), d.idle),
    )
    table.finish()
    return result


def _land(table: Table) -> LandConfig:
    d = LandConfig()
    result = LandConfig(
        strategy=or_default(table.optional("strategy", choice(LAND_STRATEGIES)), d.strategy),
        on_done=or_default(table.optional("on_done", boolean), d.on_done),
        retries=or_default(table.optional("retries", non_negative_int), d.retries),
        push=or_default(table.optional("push", boolean), d.push),
    )
    table.finish()
    return result


def _hooks(table: Table) -> HooksConfig:
    result = HooksConfig(on_error=or_default(table.optional("on_error", choice(ON_ERROR)),
                                             "deny"))
    table.finish()
    return result


def _remote(table: Table) -> RemoteConfig:
    d = RemoteConfig()
    name = or_default(table.optional("name", string), d.name)
    machine = table.optional("machine", string)
    for key, value in (("name", name), ("machine", machine)):
        if value is not None and not _AGENT_NAME.match(value):
            table.fail(key, f"{key} {value!r} may use letters, digits, '.', '_' and '-'")
    result = RemoteConfig(name=name,
                          interval=or_default(table.optional("interval", interval(0.2)),
                                              d.interval),
                          machine=machine)
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
    if agent.tool:
        body["tool"] = agent.tool
    return tomli_w.dumps({"agents": {agent.name: body}})
