"""The demo's machinery: a narrator that prints each step and command, a receiver for the daemon's
notifications, and the sandbox driver that runs real gitwarden and git commands and waits for
claims to come true."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

from gitwarden.errors import GitwardenError
from gitwarden.git.repository import locate_repo
from gitwarden.git.runner import git_text
from gitwarden.store.db import Store
from gitwarden.store.events import list_events

T = TypeVar("T")


DAEMON_READY_TIMEOUT = 20.0
CLAIM_TIMEOUT = 20.0


class DemoFailed(GitwardenError):
    """A step of the demo did not happen as narrated."""


@dataclass
class DemoResult:
    sandbox: Path
    repository: Path
    agents: dict[str, Path]
    daemon_log: Path
    facts: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"sandbox": str(self.sandbox), "repository": str(self.repository),
                "agents": {name: str(path) for name, path in self.agents.items()},
                "daemon_log": str(self.daemon_log), "facts": self.facts}


class Narrator:
    """Prints numbered steps, the commands a user would type, their output and the checks."""

    def __init__(self, out: TextIO, total_steps: int) -> None:
        self.out = out
        self.total = total_steps
        self.number = 0

    def step(self, title: str, explanation: str = "") -> None:
        self.number += 1
        self.say(f"\n[{self.number}/{self.total}] {title}")
        if explanation:
            self.say(f"    {explanation}")

    def command(self, text: str, output: str = "") -> None:
        self.say(f"  $ {text}")
        for line in output.rstrip("\n").splitlines():
            self.say(f"    {line}")

    def fact(self, text: str) -> None:
        self.say(f"  ✓ {text}")

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


class NotifyReceiver:
    """A datagram socket the daemon reports to through NOTIFY_SOCKET (the sd_notify protocol)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._dir: str | None = None
        if sys.platform.startswith("linux"):
            name = f"gitwarden-demo-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self.sock.bind(b"\0" + name.encode())
            self.address = "@" + name
        else:
            self._dir = tempfile.mkdtemp(prefix="gw-")
            self.address = os.path.join(self._dir, "notify")
            self.sock.bind(self.address)
        self.messages: list[str] = []

    def wait_for(self, field_line: str, timeout: float,
                 alive: Callable[[], bool] = lambda: True) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(field_line in m.split("\n") for m in self.messages):
                return True
            if not alive():
                return False
            self.sock.settimeout(0.2)
            with suppress(TimeoutError, BlockingIOError):
                self.messages.append(self.sock.recv(4096).decode("utf-8", "replace"))
        return any(field_line in m.split("\n") for m in self.messages)

    def close(self) -> None:
        self.sock.close()
        if self._dir:
            with suppress(OSError):
                os.unlink(self.address)
                os.rmdir(self._dir)


class Demo:
    def __init__(self, sandbox: Path, out: TextIO, *, python: str | None = None) -> None:
        self.sandbox = sandbox
        self.repository = sandbox / "shop"
        self.python = python or sys.executable
        self.narrator = Narrator(out, total_steps=7)
        self.daemon: subprocess.Popen[bytes] | None = None
        self.notify: NotifyReceiver | None = None
        self.daemon_log = sandbox / "daemon.log"
        self.agents: dict[str, Path] = {}
        self.facts: dict[str, Any] = {}

    # --- running things -----------------------------------------------------------------

    def gitwarden(self, *args: str, show: bool = True, check: bool = True,
                  cwd: Path | None = None) -> str:
        """Run the real CLI as a user would and show the command and its output."""
        proc = subprocess.run([self.python, "-m", "gitwarden", *args],
                              cwd=cwd or self.repository, capture_output=True, text=True,
                              env=self._env(), timeout=60, check=False)
        if show:
            self.narrator.command(shlex.join(["gitwarden", *args]), proc.stdout)
        if check and proc.returncode != 0:
            raise DemoFailed(f"`gitwarden {shlex.join(args)}` failed: "
                             f"{proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def git(self, cwd: Path, *args: str, show: bool = True) -> str:

        text = git_text(list(args), cwd)
        if show:
            where = "" if cwd in (self.repository, self.sandbox) else f"(in {cwd.name}) "
            self.narrator.command(f"{where}git {shlex.join(args)}", text)
        return text

    def edit(self, agent: str, path: str, old: str, new: str) -> None:
        target = self.agents[agent] / path
        text = target.read_text(encoding="utf-8")
        if old not in text:
            raise DemoFailed(f"demo script error: {old!r} not in {target}")
        target.write_text(text.replace(old, new, 1), encoding="utf-8")
        self.narrator.say(f"  ({agent} edits {path}: {old.strip()!r} -> {new.strip()!r})")

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "GIT_DIR",
                    "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            env.pop(key, None)
        env["GITWARDEN_NO_NOTIFY"] = "1"  # the narration is the notification here
        env["NO_COLOR"] = "1"
        return env

    def wait_until(self, what: str, probe: Callable[[], T | None],
                   timeout: float = CLAIM_TIMEOUT) -> T:
        """Poll `probe` until it returns a value; fail the demo with `what` otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value is not None and value is not False:
                return value
            if self.daemon is not None and self.daemon.poll() is not None:
                raise DemoFailed(f"the daemon exited (status {self.daemon.returncode}) while "
                                 f"waiting for: {what}; see {self.daemon_log}")
            if time.monotonic() > deadline:
                raise DemoFailed(f"timed out after {timeout:.0f} s waiting for: {what}; "
                                 f"see {self.daemon_log}")
            time.sleep(0.1)

    # --- the daemon ---------------------------------------------------------------------

    def start_daemon(self) -> None:
        self.notify = NotifyReceiver()
        env = self._env()
        env["NOTIFY_SOCKET"] = self.notify.address
        with open(self.daemon_log, "ab") as log:
            self.daemon = subprocess.Popen(
                [self.python, "-m", "gitwarden", "-C", str(self.repository), "watch"],
                cwd=self.repository, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        daemon = self.daemon
        if not self.notify.wait_for("READY=1", DAEMON_READY_TIMEOUT,
                                    alive=lambda: daemon.poll() is None):
            raise DemoFailed(f"the daemon did not report READY=1 within "
                             f"{DAEMON_READY_TIMEOUT:.0f} s; see {self.daemon_log}")

    def stop_daemon(self) -> bool:
        """SIGTERM the daemon and wait for it; True if it said STOPPING=1 and exited 0."""
        if self.daemon is None:
            return True
        daemon, self.daemon = self.daemon, None
        clean = False
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        stopping = self.notify is not None and self.notify.wait_for("STOPPING=1", 0.5)
        clean = stopping and daemon.returncode == 0
        if self.notify is not None:
            self.notify.close()
            self.notify = None
        return clean

    @contextmanager
    def running_daemon(self) -> Iterator[None]:
        try:
            yield
        finally:
            self.stop_daemon()

    # --- state --------------------------------------------------------------------------

    def events(self, kinds: Sequence[str] = (), agent: str | None = None) -> list[Any]:

        with Store.open(locate_repo(self.repository)) as store:
            return list_events(store, kinds=kinds, agent=agent)
