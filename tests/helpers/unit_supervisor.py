"""A stand-in for systemd where no user instance runs (CI containers): starts a rendered
gitwarden unit's ExecStart= with only the environment systemd's user manager would give it
(HOME, USER, LOGNAME, XDG_RUNTIME_DIR, then the unit's Environment= lines), stdout and stderr
into one log file as journald would collect them."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path


def unit_command(unit: str, instance_path: Path) -> tuple[list[str], dict[str, str]]:
    """ExecStart's argv (with %f filled in) and the Environment= assignments of a unit."""
    argv: list[str] = []
    env: dict[str, str] = {}
    for line in unit.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.replace("%f", str(instance_path)).replace("%%", "%")
        if key == "ExecStart":
            argv = shlex.split(value)
        elif key == "Environment":
            for assignment in shlex.split(value):
                name, _, setting = assignment.partition("=")
                env[name] = setting
    assert argv, "the unit has no ExecStart="
    return argv, env


def start_unit(unit: str, instance_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    argv, unit_env = unit_command(unit, instance_path)
    manager_env = {key: os.environ[key] for key in
                   ("HOME", "USER", "LOGNAME", "XDG_RUNTIME_DIR") if key in os.environ}
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, cwd=instance_path, env={**manager_env, **unit_env},
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
