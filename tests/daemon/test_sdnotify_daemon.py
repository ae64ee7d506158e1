"""The real daemon speaks sd_notify to a datagram socket this test owns, as under systemd."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.gitrepo import make_repo_with_agents

WATCHDOG_USEC = 400_000


def _receive(sock: socket.socket, deadline: float, messages: list[str],
             proc: subprocess.Popen[bytes] | None) -> None:
    """One datagram into `messages`; while `proc` is given it must still be running."""
    sock.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
    try:
        messages.append(sock.recv(4096).decode())
    except TimeoutError:
        assert proc is None or proc.poll() is None, f"daemon exited with {proc.returncode}"


def _wait_for(sock: socket.socket, line: str, messages: list[str],
              proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not any(line in m.splitlines() for m in messages):
        assert time.monotonic() < deadline, f"no {line} within {timeout} s; got {messages}"
        _receive(sock, deadline, messages, proc)


def test_daemon_reports_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path / "work")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = tmp_path / "notify.sock"
    sock.bind(str(address))
    env = {**os.environ, "NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gitwarden", "watch"], cwd=repo.main,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    messages: list[str] = []
    try:
        _wait_for(sock, "READY=1", messages, proc, timeout=30)
        ready_at = len(messages)
        # Pings every WATCHDOG_USEC/2 = 0.2 s: several must arrive after READY=1 (no timing
        # assertion beyond "they keep coming", the machine is shared).
        deadline = time.monotonic() + 20
        while sum(m == "WATCHDOG=1" for m in messages[ready_at:]) < 3:
            assert time.monotonic() < deadline, f"too few WATCHDOG=1 pings: {messages}"
            _receive(sock, deadline, messages, proc)
        assert any(m.startswith("STATUS=") or "\nSTATUS=" in m for m in messages), messages

        proc.send_signal(signal.SIGTERM)
        # The daemon may exit right after sending: its datagram is still queued for us.
        _wait_for(sock, "STOPPING=1", messages, None, timeout=20)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        sock.close()
