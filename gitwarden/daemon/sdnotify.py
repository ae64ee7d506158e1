"""The systemd notification protocol (sd_notify), spoken directly on the socket.

The service manager passes `NOTIFY_SOCKET` (a filesystem path, or an abstract socket name when
it starts with '@'); each notification is one datagram of newline-separated `KEY=value` fields.
`WATCHDOG_USEC` asks for `WATCHDOG=1` at least that often, and `WATCHDOG_PID`, when set, names
the only process the request is meant for. Without `NOTIFY_SOCKET` every call is a no-op, so the
daemon can call these unconditionally. Sending never raises: a service manager that went away
must not take the daemon down with it.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping

# STATUS= is shown by `systemctl status`; keep it one short line.
_MAX_STATUS_LENGTH = 200


class SdNotifier:
    """Sends sd_notify datagrams to one address (or nowhere)."""

    def __init__(self, address: str | None, watchdog_interval: float | None = None) -> None:
        self.address = address or None
        self.watchdog_interval = watchdog_interval
        self.last_error: str | None = None
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, *,
                     unset_environment: bool = False) -> SdNotifier:
        """The notifier described by NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID.

        With `unset_environment`, the variables are removed from os.environ so that child
        processes (health checks) do not inherit them.
        """
        env = os.environ if environ is None else environ
        notifier = cls(_usable_address(env.get("NOTIFY_SOCKET")), _watchdog_interval(env))
        if unset_environment and environ is None:
            for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                os.environ.pop(key, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ready(self, status: str | None = None) -> bool:
        """Startup finished: the daemon is watching."""
        return self.notify("READY=1", *_status_field(status))

    def status(self, text: str) -> bool:
        """A one-line summary shown by `systemctl status`."""
        return self.notify(*_status_field(text))

    def watchdog(self) -> bool:
        """The main loop is alive."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *_status_field(status))

    def reloading(self, status: str | None = None) -> bool:
        return self.notify("RELOADING=1", *_status_field(status))

    def notify(self, *fields: str) -> bool:
        """Send one datagram with the given `KEY=value` fields; True if it was sent."""
        if self.address is None or not fields:
            return False
        payload = "\n".join(fields).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)
                self._socket.sendto(payload, _socket_address(self.address))
            except OSError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                return False
        self.last_error = None
        return True

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def _usable_address(value: str | None) -> str | None:
    # Only AF_UNIX addresses are supported; systemd may also pass vsock:CID:PORT inside VMs.
    if not value or value.startswith("vsock:"):
        return None
    if value.startswith(("/", "@")):
        return value
    return None


def _socket_address(address: str) -> str | bytes:
    if address.startswith("@"):
        return b"\0" + address[1:].encode("utf-8", "surrogateescape")
    return address


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 pings (half the timeout), or None if no watchdog applies."""
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 1_000_000 / 2


def _status_field(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    line = " ".join(text.split())[:_MAX_STATUS_LENGTH]
    return (f"STATUS={line}",)
