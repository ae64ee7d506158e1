"""Rendering the systemd user unit and the launchd agent plist, with absolute paths.

The templates live in systemd/ and launchd/ at the repository root; wheels ship them as
gitwarden/templates/{systemd,launchd} (see pyproject.toml), an editable install reads them
from the source tree. Services do not inherit the login shell's PATH, so the PATH the user
installed from is written into the file, and the daemon runs under the absolute path of the
Python interpreter that runs this code.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from gitwarden.errors import GitwardenError, UsageError

SYSTEMD_TEMPLATE = "gitwarden@.service"
LAUNCHD_TEMPLATE = "gitwarden.plist"
UNIT_PREFIX = "gitwarden@"
LABEL_PREFIX = "io.gitwarden.watch."
_MAX_UNIT_NAME = 255
_SYSTEMD_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.")


@dataclass(frozen=True)
class ServiceFile:
    """A file `service install` writes: where, and exactly what."""

    path: Path
    content: str


def template_path(name: str) -> Path:
    """The shipped template `name` ("gitwarden@.service" or "gitwarden.plist")."""
    kind = "systemd" if name.endswith(".service") else "launchd"
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "templates" / kind / name,
                      package_dir.parent / kind / name):
        if candidate.is_file():
            return candidate
    raise GitwardenError(f"service template {kind}/{name} is missing from this installation "
                         f"(looked in {package_dir / 'templates'} and {package_dir.parent})")


def systemd_escape_path(path: str) -> str:
    """The instance name for `path`, as `systemd-escape --path` computes it."""
    if not path.startswith("/"):
        raise UsageError(f"not an absolute path: {path}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UsageError(f"path is not normalized (contains '..'): {path}")
    if not parts:
        return "-"
    raw = "/".join(parts).encode("utf-8", "surrogateescape")
    out: list[str] = []
    for index, byte in enumerate(raw):
        char = chr(byte)
        if char == "/":
            out.append("-")
        elif byte < 0x80 and char in _SYSTEMD_PLAIN and not (index == 0 and char == "."):
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def unit_name(repository: Path) -> str:
    """gitwarden@<escaped repository path>.service"""
    name = f"{UNIT_PREFIX}{systemd_escape_path(str(repository))}.service"
    if len(name) > _MAX_UNIT_NAME:
        raise UsageError(f"repository path is too long for a systemd unit name "
                         f"({len(name)} > {_MAX_UNIT_NAME} characters): {repository}")
    return name


def service_path(path_env: str | None = None) -> str:
    """The PATH a service gets: the installing shell's (or `path_env`), duplicates dropped."""
    raw = os.environ.get("PATH", os.defpath) if path_env is None else path_env
    return os.pathsep.join(dict.fromkeys(entry for entry in raw.split(os.pathsep) if entry))


def render_systemd_unit(python: str | None = None, path_env: str | None = None) -> str:
    """The template unit, with the interpreter and PATH of this installation filled in."""
    python = python or interpreter()
    path_env = service_path(path_env)
    exec_start = f"{_systemd_quote(python)} -m gitwarden -C \"%f\" watch"
    text = template_path(SYSTEMD_TEMPLATE).read_text(encoding="utf-8")
    return _fill(text, {
        "EXEC_START": exec_start,
        "PATH_ENVIRONMENT": _systemd_quote(f"PATH={path_env}"),
    })


def launchd_label(repository: Path) -> str:
    """A label unique per repository, readable in `launchctl list`."""
    readable = re.sub(r"[^A-Za-z0-9-]+", "-", repository.name).strip("-").lower() or "root"
    digest = hashlib.sha256(str(repository).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{LABEL_PREFIX}{readable[:40]}-{digest[:10]}"


def launchd_log_dir(home: Path | None = None) -> Path:
    return (home or Path.home()) / "Library" / "Logs" / "gitwarden"


def render_launchd_plist(repository: Path, python: str | None = None,
                         path_env: str | None = None, home: Path | None = None) -> str:
    """The LaunchAgent plist for `repository`."""
    label = launchd_label(repository)
    log_dir = launchd_log_dir(home)
    path_env = service_path(path_env)
    text = template_path(LAUNCHD_TEMPLATE).read_text(encoding="utf-8")
    return _fill(text, {
        "LABEL": xml_escape(label),
        "PYTHON": xml_escape(python or interpreter()),
        "REPOSITORY": xml_escape(str(repository)),
        "PATH": xml_escape(path_env),
        "STDOUT_PATH": xml_escape(str(log_dir / f"{label}.log")),
        "STDERR_PATH": xml_escape(str(log_dir / f"{label}.err.log")),
    })


def interpreter() -> str:
    """The absolute path of the running Python (a venv's python keeps its venv)."""
    executable = sys.executable
    if not executable or not posixpath.isabs(executable):
        raise GitwardenError("cannot tell which Python runs gitwarden (sys.executable is empty)")
    return executable


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = re.search(r"@[A-Z_]+@", text)
    if leftover:
        raise GitwardenError(f"service template has an unknown placeholder {leftover.group(0)}")
    return text


def _systemd_quote(value: str) -> str:
    """One double-quoted word for a unit file, '%' escaped (it starts a specifier).

    '$' needs no escaping: systemd expands variables in the arguments of an Exec line, not in
    the executable, and never in Environment= (tests verify the executable with systemd-analyze).
    """
    if "\n" in value:
        raise UsageError(f"a newline cannot be written into a unit file: {value!r}")
    quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{quoted}"'
