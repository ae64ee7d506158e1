"""`gitwarden demo`: a sandbox repository, three agents, the real daemon, a narrated scenario.

Every step makes real edits and commits in real worktrees, runs the same `gitwarden` commands a
user would type (as subprocesses, output shown), and waits until the daemon has really done
what the narration claims, reading the state store and refs. A claim that does not come true
within its time limit fails the demo instead of being printed.
"""

from __future__ import annotations

import json
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

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pauses import paused_agents
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.git.repository import locate_repo
from gitwarden.git.runner import git_text
from gitwarden.store.db import Store
from gitwarden.store.events import list_events

T = TypeVar("T")
AGENTS = ("alpha", "beta", "gamma")
DAEMON_READY_TIMEOUT = 20.0
CLAIM_TIMEOUT = 20.0

PRICING = '''\
def total(prices):
    return sum(prices)


def discount(price, percent):
    return price * (100 - percent) / 100
'''

CHECK = '''\
"""The health check of the demo repository: exit 0 when pricing works."""
from pricing import discount, total

assert total([1, 2, 3]) == 6, "total is wrong"
assert discount(200, 10) == 180, "discount is wrong"
print("all checks passed")
'''


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


def run_demo(directory: Path | None, out: TextIO) -> DemoResult:
    """Create the sandbox in `directory` (new temporary directory if None) and play the demo."""
    sandbox = prepare_sandbox(directory)
    demo = Demo(sandbox, out)
    with demo.running_daemon():
        play(demo)
        demo.facts["daemon"]["stopped_cleanly"] = demo.stop_daemon()
    demo.narrator.say(f"\nThe daemon has stopped. The sandbox stays for you to explore: {sandbox}")
    demo.narrator.say(f"  cd {shlex.quote(str(demo.repository))} && gitwarden status && "
                      "gitwarden events && gitwarden checkpoints")
    return DemoResult(sandbox=sandbox, repository=demo.repository, agents=dict(demo.agents),
                      daemon_log=demo.daemon_log, facts=demo.facts)


def prepare_sandbox(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="gitwarden-demo-")).resolve()
    directory = directory.expanduser().resolve()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise UsageError(f"{directory} exists and is not an empty directory: "
                         "choose a new directory for the demo sandbox")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# --- the scenario -----------------------------------------------------------------------------

def play(demo: Demo) -> None:
    n = demo.narrator
    n.say(f"gitwarden demo: a sandbox repository with three agents in {demo.sandbox}")
    setup(demo)
    start(demo)
    overlap(demo)
    checkpoint(demo)
    good_commit(demo)
    breaking_commit(demo)
    roll_back(demo)


def setup(demo: Demo) -> None:
    demo.narrator.step("A repository with three agents",
                       "each agent gets its own worktree and branch; the health check is "
                       "`python check.py`")
    repo = demo.repository
    repo.mkdir(parents=True)
    demo.git(demo.sandbox, "init", "-q", "-b", "main", repo.name)
    demo.git(repo, "config", "user.name", "gitwarden demo", show=False)
    demo.git(repo, "config", "user.email", "demo@gitwarden.invalid", show=False)
    (repo / "pricing.py").write_text(PRICING, encoding="utf-8")
    (repo / "check.py").write_text(CHECK, encoding="utf-8")
    (repo / "gitwarden.toml").write_text(_config(demo.python), encoding="utf-8")
    demo.git(repo, "add", "-A")
    demo.git(repo, "commit", "-q", "-m", "pricing with a health check")
    for name in AGENTS:
        demo.gitwarden("agent", "add", name)
    demo.gitwarden("status", show=False)

    workspace = Workspace.load(repo)
    demo.agents = {agent.name: agent.path for agent in workspace.agents}
    missing = set(AGENTS) - set(demo.agents)
    if missing:
        raise DemoFailed(f"agents not found after `agent add`: {', '.join(sorted(missing))}")
    demo.facts["agents"] = {name: str(path) for name, path in demo.agents.items()}


def _config(python: str) -> str:
    command = f"{shlex.quote(python)} check.py"
    return (
        "# gitwarden demo configuration\n"
        "[health]\n"
        "on_commit = true\n\n"
        "[health.checks]\n"
        f"test = {_toml_string(command)}\n\n"
        "[watch]\n"
        'debounce = "100ms"\n\n'
        "[checkpoints]\n"
        'interval = "1h"\n\n'
    )


def _toml_string(text: str) -> str:

    return json.dumps(text)


def start(demo: Demo) -> None:
    demo.narrator.step("Start the daemon",
                       "in real use it runs as a service: `gitwarden service install`")
    demo.narrator.command("gitwarden watch &")
    demo.start_daemon()
    demo.narrator.fact("the daemon is watching (it reported READY=1 over the sd_notify socket)")
    demo.facts["daemon"] = {"ready": True, "log": str(demo.daemon_log)}


def overlap(demo: Demo) -> None:
    demo.narrator.step("Two agents edit the same line of the same file",
                       "alpha and beta both change total() in pricing.py, without committing")
    demo.edit("alpha", "pricing.py", "return sum(prices)", "return round(sum(prices), 2)")
    demo.edit("beta", "pricing.py", "return sum(prices)",
              "return sum(p for p in prices if p > 0)")
    event = demo.wait_until(
        "the daemon to report the overlap on pricing.py",
        lambda: next(iter(e for e in demo.events(kinds=["overlap"])
                          if e.path == "pricing.py"), None))
    classification = event.data.get("classification")
    demo.narrator.fact(f"the daemon noticed: {event.message}")
    demo.gitwarden("conflicts")
    if classification != "conflict":
        raise DemoFailed(f"expected a predicted conflict on pricing.py, got {classification!r}")
    demo.narrator.fact("merging alpha and beta would conflict: the user hears it now, "
                       "not at merge time")
    demo.facts["overlap"] = {"path": "pricing.py", "agents": sorted(event.data["agents"]),
                             "classification": classification, "event": event.id}


def checkpoint(demo: Demo) -> None:
    demo.narrator.step("A checkpoint of alpha's uncommitted work",
                       "a private commit under refs/gitwarden/; alpha's HEAD, index and files "
                       "are not touched")
    before = demo.git(demo.agents["alpha"], "status", "--porcelain", show=False)
    demo.gitwarden("checkpoint", "alpha", "-m", "alpha rounds totals")
    ref = "refs/gitwarden/checkpoints/alpha"
    commit = demo.git(demo.repository, "rev-parse", ref, show=False)
    saved = demo.git(demo.repository, "show", f"{commit}:pricing.py", show=False)
    after = demo.git(demo.agents["alpha"], "status", "--porcelain", show=False)
    if "round(sum(prices), 2)" not in saved or before != after:
        raise DemoFailed("the checkpoint does not hold alpha's work, or alpha's state changed")
    demo.git(demo.repository, "log", "--oneline", "-1", ref)
    demo.narrator.fact(f"checkpoint {commit[:10]} holds alpha's edit; `git status` in alpha "
                       "is unchanged")
    demo.facts["checkpoint"] = {"agent": "alpha", "ref": ref, "commit": commit}


def good_commit(demo: Demo) -> None:
    demo.narrator.step("gamma commits a good change",
                       "the daemon runs the health check on the commit, in a scratch worktree")
    gamma = demo.agents["gamma"]
    with (gamma / "pricing.py").open("a", encoding="utf-8") as handle:
        handle.write("\n\ndef with_tax(price, rate=20):\n    return price * (100 + rate) / 100\n")
    demo.narrator.say("  (gamma adds with_tax() to pricing.py)")
    demo.git(gamma, "commit", "-q", "-am", "add with_tax")
    head = demo.git(gamma, "rev-parse", "HEAD", show=False)
    demo.wait_until("the health check to pass on gamma's commit",
                    lambda: _event_with(demo, "health.pass", "gamma", head))
    demo.gitwarden("health", "gamma")
    demo.gitwarden("checkpoint", "gamma", "--clean", "-m", "with_tax works")
    clean = demo.git(demo.repository, "rev-parse", "refs/gitwarden/checkpoints/gamma", show=False)
    demo.narrator.fact(f"checks pass at {head[:10]}; checkpoint {clean[:10]} is marked clean")
    demo.facts["good"] = {"agent": "gamma", "commit": head, "clean_checkpoint": clean}


def breaking_commit(demo: Demo) -> None:
    demo.narrator.step("gamma commits a breaking change",
                       "the daemon confirms the failure with a re-run, finds the culprit "
                       "commit and pauses gamma (its policy)")
    demo.edit("gamma", "pricing.py", "return price * (100 - percent) / 100",
              "return price * percent / 100")
    demo.git(demo.agents["gamma"], "commit", "-q", "-am", "simplify discount")
    bad = demo.git(demo.agents["gamma"], "rev-parse", "HEAD", show=False)
    culprit = demo.wait_until("the daemon to name the culprit of the broken check",
                              lambda: _event_with(demo, "health.culprit", "gamma", bad,
                                                  key="culprit"))
    paused = demo.wait_until("gamma to be paused", lambda: _paused(demo, "gamma"))
    demo.gitwarden("events", "--kind", "health.culprit", check=False)
    demo.gitwarden("status")
    demo.narrator.fact(f"culprit: gamma's commit {bad[:10]} \"simplify discount\"; gamma is "
                       f"paused ({paused})")
    demo.facts["culprit"] = {"agent": "gamma", "commit": bad, "event": culprit.id,
                             "paused": True}


def roll_back(demo: Demo) -> None:
    demo.narrator.step("Roll gamma back to its last clean checkpoint, then resume it",
                       "a safety checkpoint and a backup ref are taken first, so nothing is lost")
    demo.gitwarden("rollback", "gamma", "--yes")
    gamma = demo.agents["gamma"]
    head = demo.git(gamma, "rev-parse", "HEAD", show=False)
    good = demo.facts["good"]["commit"]
    if head != good:
        raise DemoFailed(f"gamma's HEAD is {head[:10]} after the rollback, expected {good[:10]}")
    backups = demo.git(demo.repository, "for-each-ref", "--format=%(refname) %(objectname)",
                       "refs/gitwarden/backups/gamma/", show=False).splitlines()
    bad = demo.facts["culprit"]["commit"]
    backup = next((line.split()[0] for line in backups if line.split()[1] == bad), None)
    if backup is None:
        raise DemoFailed(f"no backup ref of gamma points at {bad[:10]}: {backups}")
    demo.gitwarden("resume", "gamma")
    demo.wait_until("gamma to be resumed", lambda: not _paused(demo, "gamma") or None)
    demo.narrator.fact(f"gamma is back at {head[:10]}; the broken commit stays reachable "
                       f"from {backup}")
    demo.facts["rollback"] = {"agent": "gamma", "head": head, "backup_ref": backup,
                              "resumed": True}


def _event_with(demo: Demo, kind: str, agent: str, commit: str, key: str = "commit") -> Any:
    for event in demo.events(kinds=[kind], agent=agent):
        if event.data.get(key) == commit or commit[:10] in event.message:
            return event
    return None


def _paused(demo: Demo, agent: str) -> str | None:

    with Store.open(locate_repo(demo.repository)) as store:
        info = paused_agents(store).get(agent)
    if info is None:
        return None
    return info.reason
