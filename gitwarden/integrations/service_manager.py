"""Installing, removing and inspecting the gitwarden service: systemd --user and launchd.

Each manager first plans (which files, which commands) so that `--dry-run` shows exactly what
`install` does, then carries the plan out. Every failure of the service manager becomes one
actionable GitwardenError; nothing here raises a bare CalledProcessError.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gitwarden.errors import GitwardenError, UsageError
from gitwarden.integrations.service_files import (
    SYSTEMD_TEMPLATE,
    ServiceFile,
    launchd_label,
    launchd_log_dir,
    render_launchd_plist,
    render_systemd_unit,
    unit_name,
)

MANAGERS = ("systemd", "launchd")
COMMAND_TIMEOUT = 30.0
LINGER_HINT = ("so that the service keeps running after you log out and starts at boot, run:\n"
               "  loginctl enable-linger $USER")


# Runs one service-manager command; tests inject a recorder (launchctl cannot run on Linux).
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class ServiceManagerUnavailable(GitwardenError):
    """systemctl --user or launchctl cannot be used on this machine right now."""


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    may_fail: bool = False

    def shell(self) -> str:
        text = shlex.join(self.argv)
        return f"{text} || true" if self.may_fail else text


@dataclass(frozen=True)
class Plan:
    """What install/uninstall does, in order: stop commands, file changes, commands."""

    def all_commands(self) -> tuple[Command, ...]:
        return self.stop_commands + self.commands


    manager: str
    service: str
    repository: Path
    write: tuple[ServiceFile, ...] = ()
    remove: tuple[Path, ...] = ()
    directories: tuple[Path, ...] = ()
    stop_commands: tuple[Command, ...] = ()
    commands: tuple[Command, ...] = ()
    hints: tuple[str, ...] = ()


@dataclass
class ServiceStatus:
    manager: str
    service: str
    repository: Path
    file: Path
    installed: bool
    enabled: bool | None = None
    running: bool | None = None
    state: str = "unknown"
    pid: int | None = None
    log_source: str = ""
    log_lines: list[str] = field(default_factory=list)
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"manager": self.manager, "service": self.service,
                "repository": str(self.repository), "file": str(self.file),
                "installed": self.installed, "enabled": self.enabled, "running": self.running,
                "state": self.state, "pid": self.pid, "log_source": self.log_source,
                "log_lines": self.log_lines, "problem": self.problem}


class ServiceManager(Protocol):
    name: str
    runner: Runner

    def plan_install(self, repository: Path, *, start: bool) -> Plan: ...

    def plan_uninstall(self, repository: Path) -> Plan: ...

    def check_available(self) -> None: ...

    def status(self, repository: Path, log_lines: int) -> ServiceStatus: ...


def manager_for(name: str | None = None, runner: Runner | None = None) -> ServiceManager:
    """The service manager by name, or the one of this platform."""
    if name is None:
        name = "launchd" if sys.platform == "darwin" else "systemd"
    if name == "systemd":
        return SystemdUser(runner=runner)
    if name == "launchd":
        return Launchd(runner=runner)
    raise UsageError(f"unknown service manager {name!r} (expected one of {', '.join(MANAGERS)})")


def execute(plan: Plan, manager: ServiceManager, *, run_commands: bool = True) -> None:
    """Carry out a plan; the manager is checked first so that a failure changes nothing."""
    if run_commands and plan.all_commands():
        manager.check_available()
    if run_commands:
        _run_all(plan.stop_commands, manager.runner)
    for directory in plan.directories:
        directory.mkdir(parents=True, exist_ok=True)
    for service_file in plan.write:
        write_atomically(service_file.path, service_file.content)
    for path in plan.remove:
        path.unlink(missing_ok=True)
    if run_commands:
        _run_all(plan.commands, manager.runner)


def _run_all(commands: Sequence[Command], runner: Runner) -> None:
    for command in commands:
        proc = runner(command.argv)
        if proc.returncode != 0 and not command.may_fail:
            raise GitwardenError(f"`{command.shell()}` failed: {_first_line(proc)}")


def write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a service-manager command; a missing binary becomes ServiceManagerUnavailable."""
    executable = shutil.which(argv[0])
    if executable is None:
        raise ServiceManagerUnavailable(_missing_binary_message(argv[0]))
    try:
        return subprocess.run([executable, *argv[1:]], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise GitwardenError(f"`{shlex.join(argv)}` did not finish within "
                             f"{COMMAND_TIMEOUT:.0f} s") from exc


def _missing_binary_message(binary: str) -> str:
    if binary == "launchctl":
        return ("launchctl not found: launchd agents exist only on macOS "
                "(on Linux use `--manager systemd`)")
    if binary in ("systemctl", "journalctl"):
        return (f"{binary} not found: this system does not run systemd; run `gitwarden watch` "
                "under your own supervisor, or only write the unit with --no-start")
    return f"{binary} not found on PATH"


def _first_line(proc: subprocess.CompletedProcess[str]) -> str:
    for text in (proc.stderr, proc.stdout):
        for line in (text or "").splitlines():
            if line.strip():
                return line.strip()
    return f"exit status {proc.returncode}"


class SystemdUser:
    """A template user unit; one enabled instance per repository."""

    name = "systemd"

    def __init__(self, config_home: Path | None = None, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or run_command
        xdg = os.environ.get("XDG_CONFIG_HOME")
        base = config_home or (Path(xdg) if xdg and os.path.isabs(xdg)
                               else Path.home() / ".config")
        self.unit_dir = base / "systemd" / "user"

    @property
    def template_file(self) -> Path:
        return self.unit_dir / SYSTEMD_TEMPLATE

    def plan_install(self, repository: Path, *, start: bool) -> Plan:
        unit = unit_name(repository)
        commands: tuple[Command, ...] = ()
        if start:
            commands = (Command(("systemctl", "--user", "daemon-reload")),
                        Command(("systemctl", "--user", "enable", "--now", unit)))
        return Plan(manager=self.name, service=unit, repository=repository,
                    write=(ServiceFile(self.template_file, render_systemd_unit()),),
                    commands=commands, hints=(LINGER_HINT,))

    def plan_uninstall(self, repository: Path) -> Plan:
        unit = unit_name(repository)
        links = self._enabled_links(unit)
        others = [link for link in self._all_enabled_links() if link.name != unit]
        # The template is shared by every repository: keep it while another one uses it.
        remove = tuple(links) + (() if others else (self.template_file,))
        return Plan(manager=self.name, service=unit, repository=repository, remove=remove,
                    stop_commands=(Command(("systemctl", "--user", "disable", "--now", unit)),),
                    commands=(Command(("systemctl", "--user", "daemon-reload")),))

    def check_available(self) -> None:
        proc = self.runner(("systemctl", "--user", "show-environment"))
        if proc.returncode != 0:
            raise ServiceManagerUnavailable(
                "the systemd user instance is not available "
                f"(`systemctl --user` failed: {_first_line(proc)}); log in through a session "
                "that runs `systemd --user`, or only write the unit with --no-start")

    def status(self, repository: Path, log_lines: int) -> ServiceStatus:
        unit = unit_name(repository)
        status = ServiceStatus(manager=self.name, service=unit, repository=repository,
                               file=self.template_file, installed=self.template_file.is_file(),
                               log_source=f"journalctl --user -u {unit}")
        status.enabled = bool(self._enabled_links(unit))
        try:
            self.check_available()
            proc = self.runner(("systemctl", "--user", "show", unit,
                                "--property=ActiveState,SubState,MainPID"))
            props = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
            status.state = f"{props.get('ActiveState', '?')}/{props.get('SubState', '?')}"
            status.running = props.get("ActiveState") in ("active", "reloading")
            pid = int(props.get("MainPID", "0") or 0)
            status.pid = pid or None
        except GitwardenError as exc:
            status.problem = exc.message
        status.log_lines = self._journal(unit, log_lines)
        return status

    def _journal(self, unit: str, count: int) -> list[str]:
        if count <= 0:
            return []
        try:
            proc = self.runner(("journalctl", "--user", "-u", unit, "-n", str(count),
                                "--no-pager", "-o", "short-iso"))
        except GitwardenError:
            return []
        if proc.returncode != 0:
            return []
        return [line for line in proc.stdout.splitlines() if not line.startswith("-- ")]

    def _enabled_links(self, unit: str) -> list[Path]:
        return [link for link in self._all_enabled_links() if link.name == unit]

    def _all_enabled_links(self) -> list[Path]:
        if not self.unit_dir.is_dir():
            return []
        return sorted(path for path in self.unit_dir.glob("*.wants/gitwarden@*.service")
                      if path.name != SYSTEMD_TEMPLATE)


class Launchd:
    """A LaunchAgent per repository in the user's GUI domain."""

    name = "launchd"

    def __init__(self, home: Path | None = None, uid: int | None = None,
                 runner: Runner | None = None) -> None:
        self.runner: Runner = runner or run_command
        self.home = home or Path.home()
        self.uid = os.getuid() if uid is None else uid
        self.agents_dir = self.home / "Library" / "LaunchAgents"

    @property
    def domain(self) -> str:
        return f"gui/{self.uid}"

    def plist_file(self, repository: Path) -> Path:
        return self.agents_dir / f"{launchd_label(repository)}.plist"

    def plan_install(self, repository: Path, *, start: bool) -> Plan:
        label = launchd_label(repository)
        plist = self.plist_file(repository)
        commands: tuple[Command, ...] = ()
        if start:
            # bootstrap fails when the label is already loaded: unload an older version first.
            commands = (Command(("launchctl", "bootout", f"{self.domain}/{label}"), may_fail=True),
                        Command(("launchctl", "bootstrap", self.domain, str(plist))))
        content = render_launchd_plist(repository, home=self.home)
        return Plan(manager=self.name, service=label, repository=repository,
                    write=(ServiceFile(plist, content),),
                    directories=(launchd_log_dir(self.home),), commands=commands)

    def plan_uninstall(self, repository: Path) -> Plan:
        label = launchd_label(repository)
        return Plan(manager=self.name, service=label, repository=repository,
                    remove=(self.plist_file(repository),),
                    stop_commands=(Command(("launchctl", "bootout", f"{self.domain}/{label}"),
                                           may_fail=True),))

    def check_available(self) -> None:
        proc = self.runner(("launchctl", "print", self.domain))
        if proc.returncode != 0:
            raise ServiceManagerUnavailable(
                f"the launchd domain {self.domain} is not available "
                f"(`launchctl print {self.domain}` failed: {_first_line(proc)}); "
                "log in at the console or use a GUI session")

    def status(self, repository: Path, log_lines: int) -> ServiceStatus:
        label = launchd_label(repository)
        log_dir = launchd_log_dir(self.home)
        plist = self.plist_file(repository)
        status = ServiceStatus(manager=self.name, service=label, repository=repository,
                               file=plist, installed=plist.is_file(),
                               log_source=str(log_dir / f"{label}.err.log"))
        try:
            proc = self.runner(("launchctl", "print", f"{self.domain}/{label}"))
            status.enabled = proc.returncode == 0
            fields = _launchctl_fields(proc.stdout) if proc.returncode == 0 else {}
            status.state = fields.get("state", "not loaded")
            status.running = status.state == "running"
            pid = fields.get("pid", "")
            status.pid = int(pid) if pid.isdigit() else None
        except GitwardenError as exc:
            status.problem = exc.message
        status.log_lines = _tail(log_dir / f"{label}.err.log", log_lines)
        return status


def _launchctl_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(" = ")
        if sep and key not in fields:
            fields[key] = value.strip()
    return fields


def _tail(path: Path, count: int) -> list[str]:
    if count <= 0:
        return []
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            data = handle.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-count:]
