"""A real D-Bus session bus (dbus-daemon) with an org.freedesktop.Notifications server.

Tests start the bus, run this server on it in a thread, point the daemon's
DBUS_SESSION_BUS_ADDRESS at it, and read back the notifications it received.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jeepney import MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
DBUS_DAEMON = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"


@dataclass(frozen=True)
class Received:
    app_name: str
    summary: str
    body: str


class NotificationServer:
    def __init__(self, address: str) -> None:
        self.address = address
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("notification server did not start")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def notifications(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.notifications()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.notifications()

    def _serve(self) -> None:
        conn = open_dbus_connection(bus=self.address)
        try:
            reply = conn.send_and_get_reply(message_bus.RequestName(NAME), timeout=5)
            assert reply.body[0] == 1, f"could not own {NAME}: {reply.body}"
            self._ready.set()
            next_id = 1
            while not self._stop.is_set():
                try:
                    msg = conn.receive(timeout=0.2)
                except TimeoutError:
                    continue
                if msg.header.message_type != MessageType.method_call:
                    continue
                member = msg.header.fields.get(3)  # HeaderFields.member
                if member == "Notify":
                    app_name, _replaces, _icon, summary, body = msg.body[:5]
                    with self._lock:
                        self.received.append(Received(app_name, summary, body))
                    conn.send_message(new_method_return(msg, "u", (next_id,)))
                    next_id += 1
                elif member == "GetCapabilities":
                    conn.send_message(new_method_return(msg, "as", (["body"],)))
                elif member == "GetServerInformation":
                    conn.send_message(new_method_return(msg, "ssss",
                                                        ("test", "gitwarden", "1", "1.2")))
                else:
                    conn.send_message(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))
        finally:
            conn.close()


@contextlib.contextmanager
def session_bus(tmp: Path) -> Iterator[tuple[str, NotificationServer]]:
    """A private dbus-daemon session bus with a notification server on it."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "session.conf"
    config.write_text(
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
        "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig><type>session</type>"
        f"<listen>unix:dir={tmp}</listen>"
        "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
        "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
        encoding="utf-8")
    proc = subprocess.Popen([DBUS_DAEMON, f"--config-file={config}", "--nofork",
                             "--print-address=1"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ})
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        if not address:
            raise RuntimeError("dbus-daemon did not print an address")
        server = NotificationServer(address)
        server.start()
        try:
            yield address, server
        finally:
            server.stop()
    finally:
        proc.terminate()
        proc.wait(timeout=5)
