"""Running the real `gitwarden watch` process in tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from gitwarden.control.socket import request
from gitwarden.errors import GitwardenError
from gitwarden.git.repository import locate_repo
from tests.helpers.gitrepo import spawn_gitwarden

T = TypeVar("T")


class DaemonProcess:
    def __init__(self, main: Path, env: Mapping[str, str] | None = None,
                 args: tuple[str, ...] = (), fresh: bool = False) -> None:
        """`fresh`: a new interpreter, not a fork of the pre-imported server (whose pages,
        every command module's included, a forked daemon's memory figures would count)."""
        self.main = main
        self.repo = locate_repo(main)
        self.log_path = main.parent / "daemon.log"
        full_env = {**os.environ, **(env or {})}
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = spawn_gitwarden("watch", *args, cwd=main, env=full_env, stdout=self._log,
                                    stderr=self._log, fresh=fresh)
        wait_until(lambda: self.alive_and_answering(), 60, "daemon did not start", self)

    def alive_and_answering(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited early ({self.proc.returncode}):\n{self.log()}")
        try:
            return bool(request(self.repo, "ping", timeout=2).get("ok"))
        except GitwardenError:
            return False

    def request(self, command: str, **params: Any) -> dict[str, Any]:
        return request(self.repo, command, timeout=60, **params)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def rss_peak_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0


def wait_until(check: Callable[[], T], timeout: float, message: str,
               daemon: DaemonProcess | None = None) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n--- daemon log ---\n{daemon.log()}" if daemon else ""
            raise AssertionError(f"{message} (after {timeout}s){extra}")
        time.sleep(0.05)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (as systemd does to a unit's control group):
    nothing gets to clean up, locks its git children held stay on disk."""
    doomed = [pid]
    found = True
    while found:
        found = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in doomed:
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent in doomed:
                doomed.append(int(entry.name))
                found = True
    for target in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)
