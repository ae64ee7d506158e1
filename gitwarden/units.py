"""Parsing durations ("5m", "1h30m", "200ms") and sizes ("1MiB") from config and flags."""

from __future__ import annotations

import math
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?", re.IGNORECASE)
MAX_SIZE = 2**50  # 1 PiB: beyond any file gitwarden would look at
MAX_SECONDS = 100 * 365 * 86400.0  # a century: what timers and timestamps can still hold
_SIZE_BYTES = {
    "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
}


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration such as "90s", "5m", "1h30m", "200ms"; bare numbers are seconds."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if isinstance(text, float) and not math.isfinite(text):
            raise ValueError(f"not a duration: {text!r} (a number of seconds is finite)")
        if text < 0:
            raise ValueError(f"duration must not be negative: {text}")
        return _bounded_seconds(float(text), text)
    cleaned = text.strip().lower().replace(" ", "")
    if len(cleaned) > 64:
        raise ValueError(f"not a duration: {text[:20]!r}... is too long")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return _bounded_seconds(float(cleaned), text)
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned) or not cleaned:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m, 7d)")
    return _bounded_seconds(total, text)


def _bounded_seconds(seconds: float, text: object) -> float:
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise ValueError(f"duration {text!r} is too long (at most 100 years)")
    return seconds


def parse_size(text: str | int) -> int:
    """Bytes in a size such as "1MiB", "500k", "2048"."""
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"size must not be negative: {text}")
        return _bounded_size(text, text)
    match = _SIZE.fullmatch(text.strip()) if len(text) <= 64 else None
    if not match:
        raise ValueError(f"not a size: {text[:40]!r} (use e.g. 512KiB, 1MiB, 2000000)")
    unit = (match.group(2) or "b").lower()
    amount = float(match.group(1)) * _SIZE_BYTES[unit]
    if not math.isfinite(amount):
        raise ValueError(f"size {text!r} is too large (at most 1PiB)")
    return _bounded_size(int(amount), text)


def _bounded_size(amount: int, text: object) -> int:
    if amount > MAX_SIZE:
        raise ValueError(f"size {str(text)[:40]!r} is too large (at most 1PiB)")
    return amount


def format_duration(seconds: float) -> str:
    """A short human form: 45s, 12m, 3h, 2d."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
