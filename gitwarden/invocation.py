"""How an agent's shell runs gitwarden: the command every text written for agents names.

`gitwarden` when that name on PATH is this installation's entry point, else the absolute path
of the installed entry point (an agent's shell often lacks the user's venv on PATH), else
`python -m gitwarden` with this interpreter. Plain `os` only: deny reasons on the hook's path
use it.
"""

from __future__ import annotations

import os
import shlex
import sys

NAME = "gitwarden"
_cached: str | None = None


def entry_point() -> str | None:
    """The installed `gitwarden` script beside this interpreter, or None."""
    for directory in (os.path.dirname(sys.executable),
                      os.path.dirname(os.path.realpath(sys.argv[0] or ""))):
        candidate = os.path.join(directory, NAME)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    return None


def on_path(path_value: str | None = None) -> str | None:
    """The first `gitwarden` executable on PATH (resolved), or None."""
    for directory in (path_value if path_value is not None
                      else os.environ.get("PATH", "")).split(os.pathsep):
        candidate = os.path.join(directory or ".", NAME)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return None


def gitwarden_command(path_value: str | None = None) -> str:
    """The shell words that run this gitwarden (already shell-quoted)."""
    global _cached
    if path_value is None and _cached is not None:
        return _cached
    installed = entry_point()
    found = on_path(path_value)
    if found is not None and (installed is None or found == os.path.realpath(installed)):
        command = NAME
    elif installed is not None:
        command = shlex.quote(installed)
    else:
        command = f"{shlex.quote(sys.executable)} -m gitwarden"
    if path_value is None:
        _cached = command
    return command
