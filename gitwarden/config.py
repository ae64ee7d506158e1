"""gitwarden.toml: dataclasses, loading with line-precise errors, and rendering agent tables.

The file lives at the root of the main worktree. It is read with tomllib and written with
tomli-w. Every error names the file, the line when it can be found, and what is wrong.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gitwarden.errors import ConfigError
from gitwarden.units import parse_duration, parse_size

POLICIES = ("notify", "pause", "revert")
SEVERITIES = ("info", "warning", "error")
_AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

T = TypeVar("T")


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
class Config:
    base: str | None = None
    main_agent: bool = False
    agents: Mapping[str, AgentConfig] = field(default_factory=dict)
    checkpoints: CheckpointConfig = CheckpointConfig()
    health: HealthConfig = HealthConfig()
    notifications: NotificationConfig = NotificationConfig()
    watch: WatchConfig = WatchConfig()
    locks: LockConfig = LockConfig()
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
        raise ConfigError(_syntax_message(path, str(exc))) from exc
    return parse_config(data, path, text)


def parse_config(data: Mapping[str, Any], path: Path, text: str = "") -> Config:
    """Validate a parsed TOML document and build a Config."""
    root = _Table(data, (), _Locator(path, text))
    base = root.optional("base", _string)
    main_agent = root.optional("main_agent", _boolean) or False
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
        path=path,
    )
    root.finish()
    return config


def _agent(name: str, table: _Table) -> AgentConfig:
    if not _AGENT_NAME.match(name):
        table.fail(None, f"agent name {name!r} may use letters, digits, '.', '_' and '-'")
    agent = AgentConfig(
        name=name,
        path=table.optional("path", _string),
        branch=table.optional("branch", _string),
        scope=table.optional("scope", _globs) or (),
        policy=table.optional("policy", _choice(POLICIES)) or "pause",
        exclude=table.optional("exclude", _boolean) or False,
        task=table.optional("task", _string),
        checkpoint_interval=table.optional("checkpoint_interval", _interval(1.0)),
        auto_revert=_default(table.optional("auto_revert", _boolean), True),
    )
    table.finish()
    return agent


def _refuse_shared_paths(agents: Mapping[str, AgentConfig], root: _Table) -> None:
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
    return _Locator(path, text).where(keys)


def _checkpoints(table: _Table) -> CheckpointConfig:
    d = CheckpointConfig()
    result = CheckpointConfig(
        interval=_default(table.optional("interval", _interval(1.0)), d.interval),
        keep=_default(table.optional("keep", _positive_int), d.keep),
        keep_clean_days=_default(table.optional("keep_clean_days", _number), d.keep_clean_days),
        max_untracked_size=_default(table.optional("max_untracked_size", _size),
                                    d.max_untracked_size),
    )
    table.finish()
    return result


def _health(table: _Table) -> HealthConfig:
    d = HealthConfig()
    checks = tuple(_health_check(name, value, table) for name, value in table.items("checks"))
    result = HealthConfig(
        checks=checks,
        timeout=_default(table.optional("timeout", _duration), d.timeout),
        on_commit=_default(table.optional("on_commit", _boolean), d.on_commit),
        on_checkpoint=_default(table.optional("on_checkpoint", _boolean), d.on_checkpoint),
        integration=_default(table.optional("integration", _boolean), d.integration),
        parallel=_default(table.optional("parallel", _positive_int), d.parallel),
        max_reverts_per_day=_default(table.optional("max_reverts_per_day", _non_negative_int),
                                     d.max_reverts_per_day),
        revert_max_age=_default(table.optional("revert_max_age", _duration), d.revert_max_age),
    )
    table.finish()
    return result


def _health_check(name: str, value: Any, parent: _Table) -> HealthCheck:
    if isinstance(value, str):
        if not value.strip():
            parent.fail(("checks", name), f"check {name!r} has an empty command")
        return HealthCheck(name=name, command=value)
    if not isinstance(value, dict):
        parent.fail(("checks", name), f"check {name!r} must be a command string or a table")
    table = _Table(value, (*parent.keys, "checks", name), parent.locator)
    command = table.required("command", _string)
    env = table.optional("env", _string_map) or ()
    check = HealthCheck(name=name, command=command, timeout=table.optional("timeout", _duration),
                        env=env)
    table.finish()
    return check


def _notifications(table: _Table) -> NotificationConfig:
    d = NotificationConfig()
    result = NotificationConfig(
        enabled=_default(table.optional("enabled", _boolean), d.enabled),
        min_severity=_default(table.optional("min_severity", _choice(SEVERITIES)),
                              d.min_severity),
        quiet=_default(table.optional("quiet", _boolean), d.quiet),
        rate_limit=_default(table.optional("rate_limit", _duration), d.rate_limit),
        max_per_minute=_default(table.optional("max_per_minute", _positive_int),
                                d.max_per_minute),
    )
    table.finish()
    return result


def _watch(table: _Table) -> WatchConfig:
    d = WatchConfig()
    result = WatchConfig(
        debounce=_default(table.optional("debounce", _duration), d.debounce),
        reconcile_interval=_default(table.optional("reconcile_interval", _interval(1.0)),
                                    d.reconcile_interval),
        poll_interval=_default(table.optional("poll_interval", _interval(0.1)),
                               d.poll_interval),
        ignore=table.optional("ignore", _globs) or (),
        activity_retention=_default(table.optional("activity_retention", _duration),
                                    d.activity_retention),
        activity_max_rows=_default(table.optional("activity_max_rows", _positive_int),
                                   d.activity_max_rows),
        pause_on_violation=_default(table.optional("pause_on_violation", _boolean),
                                    d.pause_on_violation),
    )
    table.finish()
    return result


def _locks(table: _Table) -> LockConfig:
    d = LockConfig()
    result = LockConfig(
        default_ttl=_default(table.optional("default_ttl", _duration), d.default_ttl),
        stale_after=_default(table.optional("stale_after", _duration), d.stale_after),
    )
    table.finish()
    return result


def _default(value: T | None, default: T) -> T:
    return default if value is None else value


# --- value parsers: each returns the value or raises ValueError with what is wrong -----------

def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_type_name(value)}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_type_name(value)}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_type_name(value)}")
    if value < 0:
        raise ValueError("must not be negative")
    return float(value)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return value


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of at least 0, got {value!r}")
    return value


_MAX_DURATION = 3650 * 86400.0  # ten years: beyond any schedule, and within what timers take


def _duration(value: Any) -> float:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"expected a duration such as \"5m\", got {_type_name(value)}")
    seconds = parse_duration(value)
    if seconds > _MAX_DURATION:
        raise ValueError(f"duration {value!r} is too long (at most 3650d)")
    return seconds


def _interval(minimum: float) -> Callable[[Any], float]:
    """A duration that schedules something, so it must not be (near) zero."""

    def parse(value: Any) -> float:
        seconds = _duration(value)
        if seconds < minimum:
            raise ValueError(f"must be at least {minimum:g}s, got {value!r}")
        return seconds

    return parse


def _size(value: Any) -> int:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"expected a size such as \"1MiB\", got {_type_name(value)}")
    return parse_size(value)


def _globs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("expected a list of glob strings such as [\"src/payments/**\"]")
    return tuple(value)


def _string_map(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("expected a table of string values")
    return tuple(sorted(value.items()))


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    return parse


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


# --- tables with key tracking and located errors --------------------------------------------

class _Locator:
    """Finds the line of a key in the TOML text, for error messages."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_.-]+)\s*=")

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, keys: tuple[str, ...]) -> int | None:
        current: tuple[str, ...] = ()
        for number, line in enumerate(self.lines, start=1):
            header = self._HEADER.match(line)
            if header:
                current = _split_dotted(header.group(1))
                if current == keys:
                    return number
                continue
            key = self._KEY.match(line)
            if key and (*current, *_split_dotted(key.group(1))) == keys:
                return number
        if len(keys) > 1:
            return self.line_of(keys[:-1])
        return None

    def where(self, keys: tuple[str, ...]) -> str:
        line = self.line_of(keys)
        name = self.path.name
        return f"{name}:{line}" if line else name


def _split_dotted(text: str) -> tuple[str, ...]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([^.\s]+)", text)
    return tuple(a or b or c for a, b, c in parts)


class _Table:
    def __init__(self, data: Mapping[str, Any], keys: tuple[str, ...], locator: _Locator) -> None:
        self.data = data
        self.keys = keys
        self.locator = locator
        self.seen: set[str] = set()

    def fail(self, key: str | tuple[str, ...] | None, message: str) -> None:
        sub = (key,) if isinstance(key, str) else (key or ())
        full = (*self.keys, *sub)
        where = self.locator.where(full)
        label = ".".join(full)
        raise ConfigError(f"{where}: {label + ': ' if label else ''}{message}")

    def optional(self, key: str, parse: Callable[[Any], T]) -> T | None:
        self.seen.add(key)
        if key not in self.data:
            return None
        try:
            return parse(self.data[key])
        except ValueError as exc:
            self.fail(key, str(exc))
            raise AssertionError("unreachable") from exc

    def required(self, key: str, parse: Callable[[Any], T]) -> T:
        if key not in self.data:
            self.fail(None, f"missing required key {key!r}")
        value = self.optional(key, parse)
        assert value is not None
        return value

    def table(self, key: str) -> _Table:
        self.seen.add(key)
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, f"expected a table [{'.'.join((*self.keys, key))}]")
        return _Table(value, (*self.keys, key), self.locator)

    def subtables(self, key: str) -> list[tuple[str, _Table]]:
        parent = self.table(key)
        result = []
        for name, value in parent.data.items():
            parent.seen.add(name)
            if not isinstance(value, dict):
                parent.fail(name, f"expected a table [{key}.{name}]")
            result.append((name, _Table(value, (*parent.keys, name), self.locator)))
        return result

    def items(self, key: str) -> list[tuple[str, Any]]:
        return list(self.table(key).data.items())

    def finish(self) -> None:
        for key in self.data:
            if key not in self.seen:
                import difflib  # only needed to word the error

                hint = difflib.get_close_matches(key, sorted(self.seen), n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.fail(key, f"unknown key{suffix}")


def _syntax_message(path: Path, message: str) -> str:
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        reason = message[: match.start()].strip()
        return f"{path.name}:{match.group(1)}: invalid TOML: {reason} (column {match.group(2)})"
    return f"{path.name}: invalid TOML: {message}"


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
