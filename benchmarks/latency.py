"""Watch daemon latency and idle cost on a generated repository with 8, 16, 32 agent worktrees.

Prints, measured side by side in one run:
- p50/p95 time from a file write to the overlap event in the state database (50 writes),
  against one `git status` sweep of all worktrees (what a polling script pays per poll);
- the daemon's CPU share of one core and its peak RSS over an idle window (default 60 s),
  once the checkpoints the writes left due are taken and a periodic reconcile has seen the
  indexes the `git status` sweep rewrote (nothing changes during the window);
- inotify watches held by the daemon against the number of non-ignored directories.

Usage: .venv/bin/python benchmarks/latency.py [--files 20000] [--agents 8,16,32] [--idle 60]
       [--watcher inotify|observer|polling]   (GITWARDEN_WATCHER for the daemon; default: the
                                              platform's choice)
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _repo import ENV, add_agents, generate_repo, git, wait_for_daemon

CLK_TCK = os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--agents", default="8",
                        help="worktree counts, comma-separated (e.g. 8,16,32): one run each")
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--watcher", choices=("inotify", "observer", "polling"), default=None)
    parser.add_argument("--daemon-log", type=Path, default=None,
                        help="append the daemon's log here (GITWARDEN_LOG_LEVEL=debug for "
                             "per-batch timings)")
    args = parser.parse_args()
    counts = [int(n) for n in str(args.agents).split(",") if n.strip()]
    rows = []
    for count in counts:
        row = run_one(args, count)
        if row is None:
            return 1
        rows.append(row)
    print(f"\nsummary: {args.files} files per worktree, watcher "
          f"{args.watcher or 'platform default'}; goals: 8 worktrees p50 <= 50 ms and p95 <= "
          "150 ms, 32 worktrees p50 <= 100 ms and p95 <= 300 ms; idle CPU at 32 <= 0.5 %; "
          "RSS <= 150 MB")
    print(f"{'worktrees':>9} {'p50 ms':>7} {'p95 ms':>7} {'p50/sweep':>9} {'idle CPU %':>10} "
          f"{'peak RSS MB':>11} {'watches':>8}")
    for count, p50, p95, sweep, cpu, rss, watches in rows:
        print(f"{count:9d} {p50 * 1000:7.0f} {p95 * 1000:7.0f} {p50 / sweep:9.3f} {cpu:10.2f} "
              f"{rss / 1024:11.1f} {watches:8d}")
    return 0


def run_one(args: argparse.Namespace,
            count: int) -> tuple[int, float, float, float, float, int, int] | None:
    with tempfile.TemporaryDirectory(prefix="gw-latency-") as tmp:
        root = Path(tmp)
        env = {**ENV, "HOME": str(root), "GITWARDEN_NO_NOTIFY": "1",
               "XDG_RUNTIME_DIR": str(root)}
        if args.watcher:
            env["GITWARDEN_WATCHER"] = args.watcher
        os.environ.update(env)
        print(f"generating {args.files} files and {count} worktrees ...", flush=True)
        main_dir = generate_repo(root / "gen", args.files)
        agents = add_agents(main_dir, count)
        for agent in agents:  # an ignored tree per worktree: must not be watched
            for n in range(20):
                (agent / "node_modules" / f"dep{n}").mkdir(parents=True)
        # The daemon's log goes to a file: a pipe nobody reads until the end would fill up
        # and stall the daemon in the middle of the measurement.
        log_path = args.daemon_log or root / "daemon.log"
        log_file = open(log_path, "ab")  # noqa: SIM115
        daemon = subprocess.Popen([sys.executable, "-m", "gitwarden", "watch"], cwd=main_dir,
                                  env=env, stdout=subprocess.DEVNULL, stderr=log_file)
        try:
            db = main_dir / ".git" / "gitwarden" / "state.db"
            wait_for_daemon(main_dir)
            rss_started = _peak_rss(daemon.pid)
            sweep = _git_status_sweep(agents)
            latencies = _measure_latencies(agents, db, args.writes)
            rss_written = _peak_rss(daemon.pid)
            _checkpoints_caught_up(main_dir)
            cpu, rss = _idle_cost(daemon.pid, args.idle)
            watches = _inotify_watches(daemon.pid)
            directories = _non_ignored_dirs(agents)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=120)
            log_file.close()
        if not latencies:
            print("no overlap event was seen")
            return None
        p50 = statistics.median(latencies)
        p95 = sorted(latencies)[max(0, int(len(latencies) * 0.95) - 1)]
        print(f"\nrepository: {args.files} files, {count} agent worktrees, watcher "
              f"{args.watcher or 'platform default'}")
        print(f"write -> overlap event ({len(latencies)} writes): p50 {p50 * 1000:.0f} ms, "
              f"p95 {p95 * 1000:.0f} ms")
        print(f"one `git status` sweep of all {count} worktrees: {sweep * 1000:.0f} ms "
              f"(p50 latency = {p50 / sweep:.3f}x one sweep; a 30 s polling loop averages "
              f"{15 / p50:.0f}x the daemon's p50 latency)")
        print(f"idle {args.idle:.0f} s: CPU {cpu:.2f}% of one core, peak RSS {rss / 1024:.1f} MB "
              f"(peak once started {rss_started / 1024:.1f} MB, after the writes "
              f"{rss_written / 1024:.1f} MB)")
        print(f"inotify watches: {watches} for {directories} non-ignored worktree "
              "directories (+ git metadata dirs); "
              + ("the observer's recursive watches descend into ignored trees on Linux (its "
                 "events there are dropped; FSEvents on macOS does not descend)"
                 if args.watcher == "observer" else "ignored node_modules trees not watched"))
        if daemon.returncode != 0:
            tail = log_path.read_text("utf-8", "replace")[-2000:]
            print(f"daemon exited with {daemon.returncode}:\n{tail}")
            return None
    return count, p50, p95, sweep, cpu, rss, watches



def _checkpoints_caught_up(main_dir: Path) -> None:
    """The checkpoints the writes left due are taken now, and a periodic reconcile has seen the
    indexes the sweep's `git status` rewrote, so that the idle window measures a daemon with
    nothing to do (not work for changes made before it falling into it by chance). A requested
    reconcile would not do: it is a full one, and takes full checkpoints of every agent."""
    from gitwarden.control.socket import request
    from gitwarden.git.repository import locate_repo

    repo = locate_repo(main_dir)
    request(repo, "checkpoint", timeout=600)
    since = time.time()
    deadline = time.monotonic() + 180
    while (request(repo, "status", timeout=60).get("last_reconcile") or 0) < since:
        if time.monotonic() > deadline:
            print("  no periodic reconcile within 180 s", flush=True)
            return
        time.sleep(1)


def _git_status_sweep(agents: list[Path]) -> float:
    start = time.perf_counter()
    for agent in agents:
        git(agent, "status", "--porcelain")
    return time.perf_counter() - start


def _measure_latencies(agents: list[Path], db: Path, writes: int) -> list[float]:
    conn = sqlite3.connect(db)
    latencies = []
    for n in range(writes):
        rel = f"src/pkg{n:04d}/mod000.py"
        first, second = agents[n % len(agents)], agents[(n + 1) % len(agents)]
        (first / rel).write_text(f"# first edit {n}\n")
        time.sleep(0.3)  # the first agent's edit is known before the second one's
        last_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        start = time.perf_counter()
        (second / rel).write_text(f"# second edit {n}\n")
        while True:
            row = conn.execute("SELECT 1 FROM events WHERE id > ? AND kind = 'overlap.opened' "
                               "AND path = ?", (last_id, rel)).fetchone()
            if row:
                latencies.append(time.perf_counter() - start)
                break
            if time.perf_counter() - start > 10:
                print(f"  no overlap event for {rel} within 10 s", flush=True)
                break
            time.sleep(0.005)
    conn.close()
    return latencies


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return utime + stime + cutime + cstime


def _idle_cost(pid: int, seconds: float) -> tuple[float, int]:
    time.sleep(2)  # let the last batch and any checkpoint finish
    before, start = _cpu_ticks(pid), time.monotonic()
    time.sleep(seconds)
    used = (_cpu_ticks(pid) - before) / CLK_TCK
    elapsed = time.monotonic() - start
    return 100.0 * used / elapsed, _peak_rss(pid)


def _peak_rss(pid: int) -> int:
    """The daemon's peak resident set so far, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _inotify_watches(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        count += sum(1 for line in text.splitlines() if line.startswith("inotify wd:"))
    return count


def _non_ignored_dirs(agents: list[Path]) -> int:
    total = 0
    for agent in agents:
        files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                "--exclude-standard"], cwd=agent, capture_output=True,
                               check=True).stdout.split(b"\0")
        dirs = {os.path.dirname(f) for f in files if f}
        expanded = set()
        for d in dirs:
            while d:
                expanded.add(d)
                d = os.path.dirname(d)
        total += len(expanded) + 1  # + the worktree root
    return total


if __name__ == "__main__":
    sys.exit(main())
