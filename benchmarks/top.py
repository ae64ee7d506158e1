"""CPU used by `gitwarden top` while nothing changes, as a share of one core.

Generated repository (2,000 files, four agent worktrees with edits and an overlap), a real
`gitwarden watch` daemon, and `gitwarden top` on a pseudo-terminal whose output is read and
dropped. After a warm-up, the CPU time of the top process (its own and its finished git
children's) is read from /proc over a quiet window, side by side with the daemon's own in the
same window, then again without a daemon (top reading the store and git itself).
Goal: top <= 2 % of one core with a daemon. Run: python benchmarks/top.py [--seconds N]
"""

from __future__ import annotations

import argparse
import os
import pty
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _repo import ENV, add_agents, generate_repo, git

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICKS


def start_top(cwd: Path) -> tuple[subprocess.Popen[bytes], threading.Thread]:
    """`gitwarden top` on a pty of 120x40, its screen output drained by a thread."""
    leader, follower = pty.openpty()
    os.set_blocking(leader, True)
    env = {**ENV, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    proc = subprocess.Popen([sys.executable, "-m", "gitwarden", "top"], cwd=cwd, env=env,
                            stdin=follower, stdout=follower, stderr=follower,
                            start_new_session=True)
    os.close(follower)

    def drain() -> None:
        try:
            while os.read(leader, 65536):
                pass
        except OSError:
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return proc, reader


def measure(pids: list[int], seconds: float) -> list[float]:
    """Each process's CPU over `seconds`, in percent of one core."""
    before = [cpu_seconds(pid) for pid in pids]
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    for pid in pids:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            raise SystemExit(f"process {pid} exited during the measurement")
    return [(cpu_seconds(pid) - b) / elapsed * 100 for pid, b in zip(pids, before, strict=True)]


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2_000)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="quiet window measured")
    parser.add_argument("--warmup", type=float, default=8.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitwarden-bench-") as tmp:
        main_path = generate_repo(Path(tmp), args.files)
        agents = add_agents(main_path, args.agents)
        for n, path in enumerate(agents):
            (path / "src" / "pkg0001" / "mod001.py").write_text(f"# shared edit {n}\n")
            git(path, "commit", "-q", "-am", f"agent {n} work")
            (path / f"new_{n}.txt").write_text("untracked\n")
        daemon = subprocess.Popen([sys.executable, "-m", "gitwarden", "watch"], cwd=main_path,
                                  env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while subprocess.run([sys.executable, "-m", "gitwarden", "status", "--json"],
                                 cwd=main_path, env=ENV, capture_output=True,
                                 text=True).stdout.find('"running": true') < 0:
                if time.monotonic() > deadline:
                    raise SystemExit("the daemon did not start")
                time.sleep(0.5)
            top, _ = start_top(main_path)
            time.sleep(args.warmup)
            top_cpu, daemon_cpu = measure([top.pid, daemon.pid], args.seconds)
            stop(top)
        finally:
            stop(daemon)
        alone, _ = start_top(main_path)
        time.sleep(args.warmup)
        [alone_cpu] = measure([alone.pid], args.seconds)
        stop(alone)
    print(f"repository: {args.files} files, {args.agents} agents; quiet window "
          f"{args.seconds:.0f}s after {args.warmup:.0f}s warm-up")
    print(f"gitwarden top, fed by the daemon:        {top_cpu:5.2f} % of one core "
          "(goal <= 2 %)")
    print(f"  the daemon itself, same window:        {daemon_cpu:5.2f} %")
    print(f"gitwarden top without a daemon (polls git every 10s): {alone_cpu:5.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
