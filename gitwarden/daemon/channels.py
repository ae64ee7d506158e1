"""Where notifications go: the desktop (notify-py) first, then an optional user command
(`[notifications] command`) for headless and SSH users: ntfy, a Slack webhook, tmux
`display-message`, a terminal bell. Each delivery says, when it fails, what is missing and how
to fix it. Nothing here raises.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("gitwarden.notify")

APP_NAME = "gitwarden"
COMMAND_TIMEOUT = 10.0
NO_NOTIFY_ENV = "GITWARDEN_NO_NOTIFY"
HEADLESS_HINT = ('for a headless or SSH machine set `[notifications] command = "..."` in '
                 "gitwarden.toml (it gets GITWARDEN_TITLE, GITWARDEN_BODY, GITWARDEN_SEVERITY)")


@dataclass(frozen=True)
class Delivery:
    """One channel's result: delivered, or the problem with its fix."""

    channel: str
    ok: bool
    problem: str | None = None
    skipped: bool = False

    def as_json(self) -> dict[str, object]:
        return {"channel": self.channel, "ok": self.ok, "skipped": self.skipped,
                "problem": self.problem}


class DesktopChannel:
    """notify-py: on Linux `notify-send` when on PATH, else the session bus (jeepney); on macOS
    its bundled notificator, no D-Bus involved."""

    name = "desktop"

    def __init__(self, send: Callable[[str, str], bool] | None = None) -> None:
        self._send = send

    def deliver(self, title: str, body: str, severity: str) -> Delivery:
        if self._send is None and os.environ.get(NO_NOTIFY_ENV):
            log.info("notification (not delivered): %s: %s", title, body)
            return Delivery(self.name, True, f"{NO_NOTIFY_ENV} is set: desktop notifications "
                            "are only logged", skipped=True)
        problem = desktop_problem()
        if problem is not None and self._send is None:
            return Delivery(self.name, False, problem)
        try:
            send = self._send or _notify_py()
            ok = bool(send(title, body))
        except Exception as exc:  # a broken notify-py install must not stop anything
            return Delivery(self.name, False, f"notify-py failed ({type(exc).__name__}: {exc})"
                            f"; {problem or 'reinstall gitwarden'}")
        if ok:
            return Delivery(self.name, True)
        return Delivery(self.name, False, problem or _silent_failure())


class CommandChannel:
    """The user's command, run by /bin/sh with the notification in its environment."""

    name = "command"

    def __init__(self, command: str, timeout: float = COMMAND_TIMEOUT) -> None:
        self.command = command
        self.timeout = timeout

    def deliver(self, title: str, body: str, severity: str) -> Delivery:
        env = {**os.environ, "GITWARDEN_TITLE": title, "GITWARDEN_BODY": body,
               "GITWARDEN_SEVERITY": severity}
        try:
            proc = subprocess.run(["/bin/sh", "-c", self.command], env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            return Delivery(self.name, False, f"`{self.command}` did not finish within "
                            f"{self.timeout:g}s: make it return quickly (run slow work in "
                            "the background with `&`)")
        except OSError as exc:
            return Delivery(self.name, False, f"cannot run /bin/sh: {exc.strerror}")
        if proc.returncode == 0:
            return Delivery(self.name, True)
        said = next((line.strip() for line in (proc.stderr + proc.stdout).splitlines()
                     if line.strip()), "")
        if proc.returncode == 127:
            return Delivery(self.name, False, f"`{self.command}`: command not found ({said}); "
                            f"the service's PATH is {os.environ.get('PATH', '')!r}: use an "
                            "absolute path, or reinstall the service from a shell with that "
                            "PATH (`gitwarden service install`)")
        return Delivery(self.name, False, f"`{self.command}` exited with {proc.returncode}"
                        + (f": {said}" if said else ""))


Channel = DesktopChannel | CommandChannel


def channels_for(command: str | None, desktop: bool = True) -> list[Channel]:
    """The configured channels, desktop first."""
    found: list[Channel] = []
    if desktop:
        found.append(DesktopChannel())
    if command:
        found.append(CommandChannel(command))
    return found


def deliver_all(channels: Sequence[Channel], title: str, body: str,
                severity: str) -> list[Delivery]:
    return [channel.deliver(title, body, severity) for channel in channels]


def desktop_problem(platform: str = sys.platform) -> str | None:
    """Why desktop notifications cannot reach this user from this environment, with the fix;
    None when nothing is known to be missing (a send may still fail)."""
    if platform == "darwin" or platform.startswith("win"):
        return None
    if shutil.which("notify-send"):
        return None
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if not address:
        return ("no session bus: DBUS_SESSION_BUS_ADDRESS is not set in this environment and "
                "notify-send is not on PATH. A service does not inherit it from your desktop "
                "login: run `systemctl --user import-environment DBUS_SESSION_BUS_ADDRESS` "
                "(or `dbus-update-activation-environment --systemd DBUS_SESSION_BUS_ADDRESS`) "
                f"in your session, or install notify-send (libnotify-bin); {HEADLESS_HINT}")
    path = _bus_path(address)
    if path is not None and not os.path.exists(path):
        return (f"the session bus {address} does not exist (the desktop session that owned it "
                "ended, or the service kept an old address): log in to the desktop, then run "
                "`systemctl --user import-environment DBUS_SESSION_BUS_ADDRESS`; "
                + HEADLESS_HINT)
    return None


def _silent_failure() -> str:
    if sys.platform == "darwin":
        return ("macOS did not show it: allow notifications for gitwarden's notifier (System "
                f"Settings > Notifications); {HEADLESS_HINT}")
    return ("no notification server answered on the session bus (no desktop session, or no "
            f"notification daemon such as dunst or mako running); {HEADLESS_HINT}")


def _bus_path(address: str) -> str | None:
    for part in address.split(";")[0].split(":", 1)[-1].split(","):
        key, _, value = part.partition("=")
        if key == "path":
            return value
    return None


def _notify_py() -> Callable[[str, str], bool]:
    # Imported on the first desktop notification only: `gitwarden notify`, doctor and the hook
    # paths that load this module need not pay for notify-py and loguru.
    from loguru import logger  # notify-py logs through loguru at import and on failures

    logger.disable("notifypy")
    from notifypy import Notify

    def send(title: str, body: str) -> bool:
        notification = Notify(default_notification_application_name=APP_NAME,
                              enable_logging=False)
        notification.title = title
        notification.message = body
        notification.application_name = APP_NAME
        return bool(notification.send(block=True))

    return send
