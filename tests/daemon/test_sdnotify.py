"""SdNotifier against real datagram sockets (filesystem path and abstract namespace)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitwarden.daemon.sdnotify import SdNotifier


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(2)
    yield sock, str(path)
    sock.close()


def test_no_socket_is_a_silent_no_op() -> None:
    notifier = SdNotifier.from_environ({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert notifier.watchdog_interval is None


def test_messages_arrive_as_datagrams(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.ready(status="watching 3 agents") is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=watching 3 agents"
    notifier.status("2 overlaps\nin   src/app.py")
    assert sock.recv(4096) == b"STATUS=2 overlaps in src/app.py"
    notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    notifier.reloading()
    assert sock.recv(4096) == b"RELOADING=1"
    notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_abstract_socket_address() -> None:
    name = f"gitwarden-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready() is True
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert notifier.watchdog() is False
    assert notifier.last_error is not None


def test_unsupported_addresses_are_ignored() -> None:
    assert not SdNotifier.from_environ({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
    assert not SdNotifier.from_environ({"NOTIFY_SOCKET": "relative.sock"}).enabled


def test_watchdog_interval_is_half_the_timeout() -> None:
    env = {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "30000000"}
    assert SdNotifier.from_environ(env).watchdog_interval == 15.0
    mine = {**env, "WATCHDOG_PID": str(os.getpid())}
    assert SdNotifier.from_environ(mine).watchdog_interval == 15.0
    other = {**env, "WATCHDOG_PID": str(os.getpid() + 1)}
    assert SdNotifier.from_environ(other).watchdog_interval is None
    assert SdNotifier.from_environ({**env, "WATCHDOG_USEC": "nope"}).watchdog_interval is None
    assert SdNotifier.from_environ({**env, "WATCHDOG_USEC": "0"}).watchdog_interval is None


def test_unset_environment_hides_the_socket_from_children(
        receiver: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, path = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    notifier = SdNotifier.from_environ(unset_environment=True)
    assert notifier.enabled
    assert notifier.watchdog_interval == 0.2
    assert "NOTIFY_SOCKET" not in os.environ
    assert "WATCHDOG_USEC" not in os.environ
