"""Reading TOML tables with key tracking and errors that name the file, line and key; value parsers
that say what is wrong."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from gitwarden.errors import ConfigError
from gitwarden.units import parse_duration, parse_size

T = TypeVar("T")


def or_default(value: T | None, default: T) -> T:
    return default if value is None else value


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type_name(value)}")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type_name(value)}")
    return value


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {type_name(value)}")
    if not math.isfinite(value) or value > 1e9:
        raise ValueError(f"expected a finite number of reasonable size, got {value!r}")
    if value < 0:
        raise ValueError("must not be negative")
    return float(value)


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return value


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of at least 0, got {value!r}")
    return value


MAX_DURATION = 3650 * 86400.0  # ten years: beyond any schedule, and within what timers take


def duration(value: Any) -> float:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"expected a duration such as \"5m\", got {type_name(value)}")
    seconds = parse_duration(value)
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {value!r} is too long (at most 3650d)")
    return seconds


def interval(minimum: float) -> Callable[[Any], float]:
    """A duration that schedules something, so it must not be (near) zero."""

    def parse(value: Any) -> float:
        seconds = duration(value)
        if seconds < minimum:
            raise ValueError(f"must be at least {minimum:g}s, got {value!r}")
        return seconds

    return parse


def at_most(limit: float, parse: Callable[[Any], float]) -> Callable[[Any], float]:
    """A duration that must stay short (a debounce: longer would stall the daemon)."""

    def bounded(value: Any) -> float:
        seconds = parse(value)
        if seconds > limit:
            raise ValueError(f"must be at most {limit:g}s, got {value!r}")
        return seconds

    return bounded


def size(value: Any) -> int:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"expected a size such as \"1MiB\", got {type_name(value)}")
    return parse_size(value)


def globs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("expected a list of glob strings such as [\"src/payments/**\"]")
    return tuple(value)


def string_map(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("expected a table of string values")
    return tuple(sorted(value.items()))


def choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    return parse


def type_name(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


class Locator:
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
                current = split_dotted(header.group(1))
                if current == keys:
                    return number
                continue
            key = self._KEY.match(line)
            if key and (*current, *split_dotted(key.group(1))) == keys:
                return number
        if len(keys) > 1:
            return self.line_of(keys[:-1])
        return None

    def where(self, keys: tuple[str, ...]) -> str:
        line = self.line_of(keys)
        name = self.path.name
        return f"{name}:{line}" if line else name


def split_dotted(text: str) -> tuple[str, ...]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([^.\s]+)", text)
    return tuple(a or b or c for a, b, c in parts)


class Table:
    def __init__(self, data: Mapping[str, Any], keys: tuple[str, ...], locator: Locator) -> None:
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

    def table(self, key: str) -> Table:
        self.seen.add(key)
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, f"expected a table [{'.'.join((*self.keys, key))}]")
        return Table(value, (*self.keys, key), self.locator)

    def subtables(self, key: str) -> list[tuple[str, Table]]:
        parent = self.table(key)
        result = []
        for name, value in parent.data.items():
            parent.seen.add(name)
            if not isinstance(value, dict):
                parent.fail(name, f"expected a table [{key}.{name}]")
            result.append((name, Table(value, (*parent.keys, name), self.locator)))
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


def syntax_message(path: Path, message: str) -> str:
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        reason = message[: match.start()].strip()
        return f"{path.name}:{match.group(1)}: invalid TOML: {reason} (column {match.group(2)})"
    return f"{path.name}: invalid TOML: {message}"
