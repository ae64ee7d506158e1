"""Checks of the machine around the repository: gitwarden on the agents' PATH, notifications
reaching the user, the file-watch limits, the service manager and the installed service file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from gitwarden.daemon import gitscan
from gitwarden.daemon.channels import NO_NOTIFY_ENV, desktop_problem
from gitwarden.daemon.watcher import WATCH_LIMIT_ENV
from gitwarden.daemon.watches import WATCH_LIMIT_ADVICE
from gitwarden.doctor.findings import FAIL, OK, WARN, Finding, Setup
from gitwarden.errors import GitwardenError
from gitwarden.integrations.service_files import (
    render_launchd_plist,
    render_systemd_unit,
)
from gitwarden.integrations.service_manager import (
    LINGER_HINT,
    Launchd,
    SystemdUser,
    run_command,
    write_atomically,
)

# Below this many inotify watches, a few agents on a real project run out.
MIN_WATCHES = 65536


def check_gitwarden_on_path(setup: Setup) -> list[Finding]:
    found = shutil.which("gitwarden")
    if found:
        return [Finding("path", OK, f"gitwarden is on PATH ({found})")]
    here = Path(sys.executable).parent
    return [Finding("path", FAIL, "gitwarden is not on PATH: agents call it from their shell "
                    "(hooks, context files, `gitwarden done`) and would fail",
                    fix=f'add {here} to PATH in your shell profile (export PATH="{here}:$PATH")'
                        ", or install it with `pipx install gitwarden`")]


def check_notifications(setup: Setup) -> list[Finding]:
    config = setup.config.notifications if setup.config is not None else None
    if config is None or not config.enabled:
        return [Finding("notifications", OK, "notifications are off in gitwarden.toml")]
    findings = []
    if config.desktop:
        problem = None if os.environ.get(NO_NOTIFY_ENV) else desktop_problem()
        if problem is None:
            findings.append(Finding("notifications", OK, "desktop notifications can be sent "
                                    "(check that they arrive: `gitwarden notify --test`)"))
        else:
            findings.append(Finding("notifications", WARN,
                                    f"desktop notifications cannot reach you: {problem}",
                                    fix="run `gitwarden notify --test` after fixing it"))
    if config.desktop and not os.environ.get(NO_NOTIFY_ENV):
        findings += _service_bus()
    if config.command:
        findings.append(Finding("notifications", OK, f"command channel: {config.command}"))
    if not findings:
        findings.append(Finding("notifications", WARN, "no notification channel: desktop = "
                                "false and no command", fix='set [notifications] command = '
                                '"..." or desktop = true'))
    return findings


def _service_bus() -> list[Finding]:
    """The installed systemd service gets the user manager's environment, not this shell's:
    without the session bus address there, its desktop notifications go nowhere."""
    if sys.platform == "darwin" or not SystemdUser().template_file.is_file() or \
            shutil.which("systemctl") is None:
        return []
    proc = run_command(("systemctl", "--user", "show-environment"))
    if proc.returncode != 0 or "DBUS_SESSION_BUS_ADDRESS=" in proc.stdout:
        return []
    mine = os.environ.get("DBUS_SESSION_BUS_ADDRESS")

    def import_bus() -> str:
        done = run_command(("systemctl", "--user", "import-environment",
                            "DBUS_SESSION_BUS_ADDRESS"))
        if done.returncode != 0:
            raise GitwardenError(f"systemctl --user import-environment failed: {done.stderr}")
        return "imported DBUS_SESSION_BUS_ADDRESS into the systemd user manager (restart the "\
               "service to use it)"

    return [Finding("notifications", WARN, "the service's environment has no "
                    "DBUS_SESSION_BUS_ADDRESS: the running daemon cannot reach your desktop",
                    fix="from your desktop session run `systemctl --user import-environment "
                        "DBUS_SESSION_BUS_ADDRESS`, then restart the service",
                    apply=import_bus if mine else None)]


def check_watch_limits(setup: Setup) -> list[Finding]:
    if not sys.platform.startswith("linux"):
        return [Finding("watch-limit", OK, "no inotify on this platform: FSEvents or kqueue")]
    limit = _watch_limit()
    if limit is None:
        return [Finding("watch-limit", OK, "cannot read fs.inotify.max_user_watches (no "
                        "sysctl): skipped")]
    needed = 32 + sum(_directories(agent.path, setup) for agent in setup.agents or []
                      if agent.exists)
    if limit < 2 * needed or limit < MIN_WATCHES:
        return [Finding("watch-limit", WARN,
                        f"fs.inotify.max_user_watches is {limit}; the agents need about "
                        f"{needed} now, other programs (editors, IDEs) share the limit",
                        fix=WATCH_LIMIT_ADVICE)]
    return [Finding("watch-limit", OK, f"fs.inotify.max_user_watches is {limit} "
                    f"(about {needed} needed)")]


def check_service_manager(setup: Setup) -> list[Finding]:
    if sys.platform == "darwin":
        return [Finding("service-manager", OK, "launchd")]
    installed = SystemdUser().template_file.is_file()
    if shutil.which("systemctl") is None:
        return [Finding("service-manager", WARN if installed else OK,
                        "this system does not run systemd: run `gitwarden watch` under your "
                        "own supervisor")]
    proc = run_command(("systemctl", "--user", "show-environment"))
    if proc.returncode != 0:
        return [Finding("service-manager", WARN if installed else OK,
                        "no systemd user instance is reachable (`systemctl --user` fails)"
                        + ("; the installed service cannot run" if installed else
                           ": only needed for `gitwarden service install`"),
                        fix="log in through a session that runs `systemd --user` (not `su`); "
                            "over SSH check that XDG_RUNTIME_DIR is set")]
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    linger = subprocess.run(["loginctl", "show-user", user, "--property=Linger"],
                            capture_output=True, text=True, check=False)
    if "Linger=no" in linger.stdout:
        return [Finding("service-manager", WARN, "linger is off: the service stops when you "
                        "log out and does not start at boot", fix=LINGER_HINT)]
    return [Finding("service-manager", OK, "systemd user instance running")]


def check_service_file(setup: Setup) -> list[Finding]:
    repository = setup.repo.main_worktree.absolute()
    try:
        if sys.platform == "darwin":
            path = Launchd().plist_file(repository)
            wanted = render_launchd_plist(repository)
        else:
            path = SystemdUser().template_file
            wanted = render_systemd_unit()
    except GitwardenError as exc:
        return [Finding("service-file", WARN, f"cannot render the service file: {exc}")]
    if not path.is_file():
        return [Finding("service-file", OK, "no service installed (`gitwarden service "
                        "install` runs the daemon in the background)")]
    try:
        current = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [Finding("service-file", FAIL, f"cannot read {path}: {exc.strerror}")]
    if current == wanted:
        return [Finding("service-file", OK, f"{path} matches this gitwarden")]

    def rewrite() -> str:
        write_atomically(path, wanted)
        return f"rewrote {path}"

    return [Finding("service-file", WARN,
                    f"{path} is out of date with the installed gitwarden (another Python, "
                    "PATH or template)", apply=rewrite,
                    fix="`gitwarden service install` (or `doctor --fix`), then restart the "
                        "service")]


def _watch_limit() -> int | None:
    forced = os.environ.get(WATCH_LIMIT_ENV)
    if forced and forced.isdigit():
        return int(forced)
    if shutil.which("sysctl") is None:
        return None
    proc = subprocess.run(["sysctl", "-n", "fs.inotify.max_user_watches"],
                          capture_output=True, text=True, check=False)
    text = proc.stdout.strip()
    return int(text) if proc.returncode == 0 and text.isdigit() else None


def _directories(worktree: Path, setup: Setup) -> int:
    ignore = setup.config.watch.ignore if setup.config is not None else ()
    try:
        return len(gitscan.watchable_dirs(worktree, "", gitscan.ignored_dirs(worktree, None),
                                          ignore))
    except (GitwardenError, OSError):
        return 0
