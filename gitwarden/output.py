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
# SGR and other CSI sequences (colour), and OSC sequences (hyperlinks): zero columns wide.
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_COLORS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}


def use_color(stream: TextIO = sys.stdout) -> bool:
    """Colour on a terminal; `NO_COLOR` turns it off, `FORCE_COLOR` on (NO_COLOR wins)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def paint(text: str, color: str, stream: TextIO = sys.stdout) -> str:
    if not use_color(stream):
        return text
    return f"\x1b[{_COLORS[color]}m{text}\x1b[0m"


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=False, ensure_ascii=False)
    sys.stdout.write("\n")


def display_width(text: str) -> int:
    """Columns `text` takes on a terminal: escape sequences take none, wide East Asian
    characters two, combining marks none."""
    # Lazy: wcwidth costs ~10 ms to import, and for_terminal runs in the agent hooks and the
    # checkpoint and status commands, which measure no text; only tables do.
    from wcwidth import wcswidth

    plain = _ESCAPE_SEQUENCE.sub("", text)
    width = wcswidth(plain)
    # wcswidth is -1 for control characters: count those one column each, as printed escaped.
    return width if width >= 0 else sum(max(wcswidth(ch), 1) for ch in plain)


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` terminal columns."""
    return text + " " * max(width - display_width(text), 0)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, measured in terminal columns: colour
    codes and wide characters never shift a column. Every table gitwarden prints is this one."""
    widths = [display_width(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], display_width(cell))
    lines = ["  ".join(pad(h.upper(), widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in rows:
        lines.append("  ".join(pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def short(commit: str | None) -> str:
    return commit[:10] if commit else "-"


def printable(text: str) -> str:
    """`text` with the undecodable bytes of file names (surrogate escapes) shown as `\\xNN`,
    so it can be written as UTF-8 and read by anyone."""
    return _SURROGATE.sub(_escape_surrogate, text)


# C0 and C1 control characters and DEL: they move the cursor, clear screens, set titles.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str, *, newlines: bool = True) -> str:
    """`text` (from an agent, a file name, a lock reason) safe to write to a terminal: control
    characters, escape sequences and bidi overrides are shown visibly (`\\x1b`), never
    interpreted; undecodable bytes as `\\xNN`. Newlines and tabs are kept unless `newlines`
    is False (one-line cells)."""
    shown = _CONTROL.sub(_escape_control, printable(text))
    if not newlines:
        shown = shown.replace("\n", "\\n").replace("\t", "\\t")
    return shown


def one_line(message: str) -> str:
    """An error message as the one line the README promises: a multi-line message (git's
    stderr, a wrapped reason) has its lines joined with "; "."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def error_line(message: str) -> str:
    """The line the CLI writes to stderr for an error."""
    return f"gitwarden: error: {for_terminal(one_line(message), newlines=False)}\n"


def _escape_control(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
