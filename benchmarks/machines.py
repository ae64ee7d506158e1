"""Several machines against a real local git server (`git daemon` on 127.0.0.1).

M simulated machines (each its own clone and state) x N agents exchange presence through
refs/gitwarden/ every `interval`, pushing at once when an agent's changed set changes (as the
daemon does). Printed, measured side by side in one run:
- overlap propagation (an edit on one machine until every other machine sees it), p50/p95,
  as a multiple of the interval;
- lock acquire (claim by compare-and-swap, with its fetch) p50 against one plain
  `git push` of a ref to the same server;
- connections (one per push or fetch), refs and bytes on the wire per minute, idle and busy,
  counted by a loopback TCP proxy in front of the server.
Run: python benchmarks/machines.py [--machines 4] [--agents 8] [--interval 1] [--seconds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitwarden.config import RemoteConfig
from gitwarden.git.repository import locate_repo
from gitwarden.remote import claims
from gitwarden.remote import presence as presence_module
from gitwarden.remote.presence import LocalPresence, read_machines
from gitwarden.remote.refs import lock_ref
from gitwarden.remote.sync import RemoteSync
from gitwarden.remote.transport import PushOutcome
from gitwarden.store.db import Store

ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.com",
       "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **ENV}).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CountingProxy:
    """Forwards 127.0.0.1:port to the git server and counts connections and bytes."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.bytes = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.connections, self.bytes

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                with self._lock:
                    self.bytes += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


REF_UPDATES = [0]


def count_ref_updates() -> None:
    """Count the refs every push changes (wrapping the one push function presence uses)."""
    original = presence_module.push

    def counting(*args: Any, **kwargs: Any) -> PushOutcome:
        outcome = original(*args, **kwargs)
        REF_UPDATES[0] += len(outcome.accepted)
        return outcome

    presence_module.push = counting  # type: ignore[assignment]


class SimMachine:
    def __init__(self, root: Path, url: str, name: str, agents: int, interval: float) -> None:
        self.name = name
        self.path = root / name
        git(root, "clone", "-q", url, str(self.path))
        self.head = git(self.path, "rev-parse", "HEAD").strip()
        self.sync = RemoteSync(self.path, RemoteConfig("origin", interval, name))
        self.changed = {f"a{i}": () for i in range(agents)}
        self.lock = threading.Lock()

    def presences(self) -> list[LocalPresence]:
        return [LocalPresence(agent, f"agent/{agent}", self.head, self.head, self.head, paths)
                for agent, paths in sorted(self.changed.items())]

    def exchange(self) -> list[str]:
        """One exchange; returns every path the other machines' agents changed."""
        with self.lock, Store.open(locate_repo(self.path)) as store:
            self.sync.exchange(store, self.presences())
        return [p for m in read_machines(self.path, "origin") if m.machine != self.name
                for a in m.agents for p in a.changed]


def run_phase(machines: list[SimMachine], seconds: float, interval: float, busy: bool,
              proxy: CountingProxy) -> tuple[list[float], tuple[int, int, int]]:
    edits: dict[str, tuple[float, str]] = {}
    seen: dict[tuple[str, str], float] = {}
    stop = time.monotonic() + seconds
    start_counts = proxy.snapshot()
    start_refs = REF_UPDATES[0]

    def loop(machine: SimMachine) -> None:
        while time.monotonic() < stop:
            tick = time.monotonic()
            for path in machine.exchange():
                if path in edits and (machine.name, path) not in seen:
                    seen[(machine.name, path)] = time.monotonic()
            time.sleep(max(0.0, interval - (time.monotonic() - tick)))

    threads = [threading.Thread(target=loop, args=(m,)) for m in machines]
    for thread in threads:
        thread.start()
    counter = 0
    while busy and time.monotonic() < stop - 3 * interval:
        machine = random.choice(machines)
        agent = random.choice(sorted(machine.changed))
        path = f"src/file{counter}.py"
        counter += 1
        with machine.lock:
            machine.changed[agent] = (*machine.changed[agent][-3:], path)
        edits[path] = (time.monotonic(), machine.name)
        threading.Thread(target=machine.exchange).start()  # the daemon's change-triggered push
        time.sleep(interval / 2)
    for thread in threads:
        thread.join()
    end_counts = proxy.snapshot()
    delays = [seen_at - edits[path][0] for (observer, path), seen_at in seen.items()
              if observer != edits[path][1]]
    return delays, (end_counts[0] - start_counts[0], end_counts[1] - start_counts[1],
                    REF_UPDATES[0] - start_refs)


def time_it(action: Callable[[], object], runs: int) -> list[float]:
    result = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        result.append(time.perf_counter() - started)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--lock-runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitwarden-bench-machines-") as tmp:
        root = Path(tmp)
        seed = root / "seed"
        seed.mkdir()
        git(seed, "init", "-q", "-b", "main")
        (seed / "README.md").write_text("hello\n")
        git(seed, "add", "-A")
        git(seed, "commit", "-qm", "seed")
        base = root / "server"
        base.mkdir()
        git(base, "clone", "-q", "--bare", str(seed), "shared.git")
        port = free_port()
        daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
             "--listen=127.0.0.1", f"--port={port}", f"--base-path={base}", str(base)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            proxy = CountingProxy(port)
            url = f"git://127.0.0.1:{proxy.port}/shared.git"
            machines = [SimMachine(root, url, f"m{i}", args.agents, args.interval)
                        for i in range(args.machines)]
            count_ref_updates()
            for machine in machines:
                machine.exchange()
            _, idle = run_phase(machines, args.seconds, args.interval, False, proxy)
            delays, busy = run_phase(machines, args.seconds, args.interval, True, proxy)
            report(args, machines, delays, idle, busy)
        finally:
            daemon.terminate()
            daemon.wait()
    return 0


def report(args: argparse.Namespace, machines: list[SimMachine], delays: list[float],
           idle: tuple[int, int, int], busy: tuple[int, int, int]) -> None:
    one, two = machines[0].path, machines[1].path
    head = machines[0].head

    numbers = itertools.count()

    def plain_push() -> None:  # creates a new ref each time, as a lock claim does
        git(one, "push", "-q", "--no-verify", "origin",
            f"{head}:refs/gitwarden/bench/x{next(numbers)}")

    push_p50 = statistics.median(time_it(plain_push, args.lock_runs))
    acquire: list[float] = []
    for _ in range(args.lock_runs):
        started = time.perf_counter()
        outcome = claims.claim(two, "origin", machine="m1", agent="a0", patterns=["x.py"],
                               expires_at=time.time() + 60)
        acquire.append(time.perf_counter() - started)
        assert outcome.granted
        claims.release(two, "origin", {lock_ref("path", "x.py"): outcome.commits["x.py"]})
    lock_p50 = statistics.median(acquire)
    per_minute = 60.0 / args.seconds
    quantiles = statistics.quantiles(delays, n=20) if len(delays) >= 2 else [float("nan")] * 19
    print(f"M={args.machines} machines x N={args.agents} agents, interval {args.interval:g}s, "
          f"{args.seconds:g}s per phase, git daemon on 127.0.0.1")
    print(f"overlap propagation: p50 {statistics.median(delays):.2f}s "
          f"({statistics.median(delays) / args.interval:.2f} x interval), p95 {quantiles[18]:.2f}s "
          f"({quantiles[18] / args.interval:.2f} x interval), {len(delays)} samples")
    print(f"lock acquire (claim by CAS + fetch) p50 {lock_p50 * 1000:.0f} ms; one git push of a "
          f"ref p50 {push_p50 * 1000:.0f} ms; ratio {lock_p50 / push_p50:.2f}")
    for label, (connections, wire, updates) in (("idle", idle), ("busy", busy)):
        print(f"{label}: {connections * per_minute:.0f} connections/min (pushes + fetches), "
              f"{updates * per_minute:.0f} presence ref updates/min, "
              f"{wire * per_minute / 1024:.0f} KiB/min on the wire")
    refs = git(machines[0].path, "ls-remote", "origin", "refs/gitwarden/*").count("\n")
    print(f"refs under refs/gitwarden/ on the server: {refs}")


if __name__ == "__main__":
    raise SystemExit(main())
