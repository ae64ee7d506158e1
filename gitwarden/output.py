"""Printing: JSON for machines, aligned tables for people, color only on a TTY."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

# Lone surrogates: bytes of a file name that are not UTF-8, decoded with surrogateescape.
_SURROGATE = re.compile("[\ud800-\udfff]")
_COLORS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}


def use_color(stream: TextIO = sys.stdout) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def paint(text: str, color: str, stream: TextIO = sys.stdout) -> str:
    if not use_color(stream):
        return text
    return f"\x1b[{_COLORS[color]}m{text}\x1b[0m"


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=False, ensure_ascii=False)
    sys.stdout.write("\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.upper().ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def short(commit: str | None) -> str:
    return commit[:10] if commit else "-"


def printable(text: str) -> str:
    """`text` with the undecodable bytes of file names (surrogate escapes) shown as `\\xNN`,
    so it can be written as UTF-8 and read by anyone."""
    return _SURROGATE.sub(_escape_surrogate, text)


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
