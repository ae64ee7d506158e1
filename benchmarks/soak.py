"""Soak: does a daemon that runs for months stay bounded? Every figure is sampled each minute.

The workload (issue 20): 4 agent worktrees of a 2,000-file repository, a write every ~50 ms
(spread over the agents, half of them to a small set of shared files so that overlaps open),
1 % of writes followed by a commit (a health check runs on each; every third commit ends the
agent's task: its branch goes back to main, so its overlaps resolve; every second finished
task also moves the base on by a commit to the first line of a shared file, so that rebase
predictions merge file contents), checkpoints every 20 s, and retention set short
([retention] max_age and interval of a minute or two) so that its effect shows within the
run; repacking runs with its defaults.

Printed every minute: the daemon's RSS (and of it anonymous and file-mapped, all three read
at one moment from /proc/PID/smaps_rollup)
and CPU, state.db size (with its WAL; and as it was right after the newest retention pass), the
KB of each table and index (SQLite's dbstat) and row counts,
loose objects and packs (`git count-objects -v`), unreachable objects (`git fsck
--unreachable`: reached by no ref, no reflog, no worktree HEAD), how many of those are loose
and left behind (older than a minute; younger ones are shown as in flight: a checkpoint's
blobs and trees before its ref moves) and how many of those gitwarden wrote (every
unreachable object but the workload's own: its commits, by their committer, and what they
reach), and, apart, the objects only a
reflog keeps (what `git fsck --no-reflogs` adds: the workload's commits that `git reset
--hard` left behind, until the reflog expires). At the end: the growth per hour of each figure
after the first retention pass, and whether each stayed flat (state size within 10 %, compared
at the same moment of each retention cycle: right after a pass; RSS within 10 MB, no
unreachable loose object, loose objects under git's gc.auto threshold).

Usage: python benchmarks/soak.py [--minutes 30] [--retention 2m] [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _repo import ENV, add_agents, generate_repo, git
from _soak_state import memory_split, size_after_retention, state_figures, table_sizes

GC_AUTO = 6700  # git's default gc.auto: loose objects that make `git gc --auto` run
HOT_FILES = 40
FSCK_ATTEMPTS = 10
IN_FLIGHT = 60.0  # seconds: a loose unreachable object younger than this may be in flight
TASK_COMMITS = 3  # an agent's task is this many commits; then it starts over from main


@dataclass
class Sample:
    minute: float
    rss_mb: float
    cpu_pct: float
    state_kb: float
    wal_kb: float
    rows: dict[str, int]
    loose: int
    packs: int
    unreachable: int
    unreachable_loose: int
    gitwarden_loose: int
    reflog_only: int
    in_flight: int = 0
    memory: dict[str, int] = field(default_factory=dict)
    pruned_kb: float = 0.0  # state.db (with its WAL) right after the newest retention pass
    anon_mb: float = 0.0
    file_mb: float = 0.0
    pages_kb: dict[str, float] = field(default_factory=dict)


@dataclass
class Workload:
    main: Path
    agents: list[Path]
    files: list[str]
    interval: float
    commit_ratio: float
    base_every: int
    writes: int = 0
    commits: int = 0
    tasks: int = 0
    base_commits: int = 0
    task_commits: dict[Path, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rng = random.Random(20)
        hot = self.files[:HOT_FILES]
        next_at = time.monotonic()
        while not self.stop.is_set():
            agent = rng.choice(self.agents)
            rel = rng.choice(hot) if rng.random() < 0.5 else rng.choice(self.files)
            path = agent / rel
            with path.open("a") as handle:
                handle.write(f"# {agent.name} write {self.writes}\n")
            self.writes += 1
            if rng.random() < self.commit_ratio:
                try:
                    git(agent, "add", "-A")
                    git(agent, "commit", "-q", "-m", f"{agent.name} commit {self.commits}")
                    self.commits += 1
                    done = self.task_commits.get(agent, 0) + 1
                    self.task_commits[agent] = done % TASK_COMMITS
                    if done == TASK_COMMITS:  # task over: a new one from main
                        self.tasks += 1
                        if self.base_every and self.tasks % self.base_every == 0:
                            self._move_base(rng.choice(hot))
                        git(agent, "reset", "-q", "--hard", "main")
                except subprocess.CalledProcessError as exc:
                    self.errors.append(str(exc.stderr)[-200:])
            next_at += self.interval
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def _move_base(self, rel: str) -> None:
        """A commit on main (as a landed task would make) that changes the first line of a
        shared file: the agents are behind, and their work there (appended at the end) is
        predicted to rebase cleanly, which merges the file's contents."""
        path = self.main / rel
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join([f"# base {self.base_commits}\n", *lines[1:]]))
        git(self.main, "commit", "-q", "-m", f"base {self.base_commits}", "--", rel)
        self.base_commits += 1


def config_text(args: argparse.Namespace) -> str:
    keep_clean_days = _seconds(args.retention) / 86400
    return f"""[checkpoints]
interval = "{args.checkpoint_interval}"
keep_clean_days = {keep_clean_days:.6f}

[health.checks]
quick = "true"

[watch]
activity_retention = "{args.retention}"

[retention]
max_age = "{args.retention}"
interval = "{args.retention_interval}"
undo_window = "{args.retention}"
"""


def object_figures(main: Path) -> tuple[int, int, int, int, int, int, int]:
    """Loose objects, packs, unreachable objects (no ref, reflog or worktree HEAD reaches
    them), the loose ones among them left behind (older than IN_FLIGHT seconds), the loose
    ones left behind that gitwarden wrote, the objects only a reflog keeps, and the loose
    unreachable objects written in the last IN_FLIGHT seconds (a checkpoint's blobs and trees
    before its ref moves, an agent's before its commit: in flight, not left behind)."""
    counts = dict(line.split(": ", 1) for line in git(main, "count-objects", "-v").splitlines())
    unreachable = _unreachable(main, reflogs=True)
    objects = Path(git(main, "rev-parse", "--git-common-dir").strip())
    if not objects.is_absolute():
        objects = main / objects
    objects /= "objects"
    now = time.time()
    loose, in_flight = set(), 0
    for oid in unreachable:
        with contextlib.suppress(FileNotFoundError):  # packed (or packed meanwhile)
            if now - (objects / oid[:2] / oid[2:]).stat().st_mtime < IN_FLIGHT:
                in_flight += 1
            else:
                loose.add(oid)
    workload = _workload_objects(main, unreachable)
    reflog_only = len(_unreachable(main, reflogs=False)) - len(unreachable)
    return (int(counts["count"]), int(counts["packs"]), len(unreachable), len(loose),
            len(loose - workload), reflog_only, in_flight)


def _unreachable(main: Path, *, reflogs: bool) -> dict[str, str]:
    """{id: type} of what `git fsck --unreachable` lists (reflogs count as reachable unless
    `reflogs` is False)."""
    args = ["git", "fsck", "--unreachable", "--connectivity-only", "--no-progress",
            *([] if reflogs else ["--no-reflogs"])]
    for _attempt in range(FSCK_ATTEMPTS):
        proc = subprocess.run(args, cwd=main, env=ENV, capture_output=True, text=True,
                              check=False)
        if proc.returncode == 0:
            break
        time.sleep(2.0)  # a repack replaced a pack while fsck read it: its list is partial
    else:
        print(f"warning: `{' '.join(args)}` failed {FSCK_ATTEMPTS} times: "
              f"{proc.stderr.strip()[-300:]}", flush=True)
    return {parts[2]: parts[1] for line in proc.stdout.splitlines()
            if line.startswith("unreachable ") and len(parts := line.split()) >= 3}


def _workload_objects(main: Path, unreachable: dict[str, str]) -> set[str]:
    """The unreachable objects the workload wrote: its own commits (committer "bench") and
    everything they reach. What is left is gitwarden's (or nobody's: counted as gitwarden's)."""
    commits = [oid for oid, kind in unreachable.items() if kind == "commit"]
    if not commits:
        return set()
    authors = subprocess.run(["git", "log", "--no-walk=unsorted", "--stdin", "--format=%H %cn"],
                             cwd=main, env=ENV, input="\n".join(commits), capture_output=True,
                             text=True, check=True).stdout
    ours = [line.split()[0] for line in authors.splitlines()
            if line.split(maxsplit=1)[1:] == [ENV["GIT_COMMITTER_NAME"]]]
    if not ours:
        return set()
    reached = subprocess.run(["git", "rev-list", "--objects", "--no-object-names", "--stdin"],
                             cwd=main, env=ENV, input="\n".join(ours), capture_output=True,
                             text=True, check=True).stdout
    return set(reached.split()) & set(unreachable)


def sample(minute: float, daemon: psutil.Process, state_db: Path, main: Path,
           last_cpu: tuple[float, float]) -> tuple[Sample, tuple[float, float]]:
    times = daemon.cpu_times()
    cpu = times.user + times.system
    now = time.monotonic()
    cpu_pct = 100.0 * (cpu - last_cpu[0]) / max(1e-6, now - last_cpu[1])
    rss, anon, mapped = memory_split(daemon.pid)  # before git fsck and friends run
    state_kb, wal_kb, rows = state_figures(state_db)
    loose, packs, unreachable, unreachable_loose, gitwarden_loose, reflog_only, in_flight = \
        object_figures(main)
    taken = Sample(minute, rss, cpu_pct, state_kb, wal_kb, rows, loose, packs, unreachable,
                   unreachable_loose, gitwarden_loose, reflog_only, in_flight)
    taken.anon_mb, taken.file_mb = anon, mapped
    taken.pages_kb = table_sizes(state_db)
    taken.pruned_kb = size_after_retention(state_db)
    return taken, (cpu, now)


def per_hour(samples: list[Sample], value: str) -> float:
    """Least-squares slope of `value` over the samples, per hour."""
    xs = [s.minute for s in samples]
    ys = [float(getattr(s, value)) if not value.startswith("rows.")
          else float(s.rows.get(value[5:], 0)) for s in samples]
    if len(xs) < 2:
        return 0.0
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    denominator = sum((x - mean_x) ** 2 for x in xs) or 1.0
    return 60.0 * sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / \
        denominator


def daemon_memory(main: Path) -> dict[str, int]:
    """The daemon's own counts of what it holds (its `status` reply)."""
    from gitwarden.control.socket import request
    from gitwarden.errors import GitwardenError
    from gitwarden.git.repository import locate_repo

    try:
        return dict(request(locate_repo(main), "status", timeout=30).get("memory", {}))
    except GitwardenError:
        return {}


def print_sample(s: Sample) -> None:
    rows = " ".join(f"{k}={v}" for k, v in s.rows.items() if v)
    pages = " ".join(f"{k}={v:.0f}" for k, v in s.pages_kb.items() if v >= 8)
    print(f"{s.minute:5.1f} min  rss {s.rss_mb:6.1f} MB (anon {s.anon_mb:5.1f}, "
          f"file {s.file_mb:5.1f})  cpu {s.cpu_pct:5.1f}%  "
          f"state.db {s.state_kb:7.1f} KB (+wal {s.wal_kb:6.1f}; after the last retention "
          f"pass {s.pruned_kb:7.1f})  loose {s.loose:5d}  "
          f"packs {s.packs:3d}  "
          f"unreachable {s.unreachable:5d} (loose {s.unreachable_loose}, "
          f"gitwarden's {s.gitwarden_loose}; in flight {s.in_flight})  "
          f"only in reflogs {s.reflog_only}\n"
          f"           rows: {rows}\n"
          f"           pages KB: {pages}\n"
          f"           daemon maps: {' '.join(f'{k}={v}' for k, v in s.memory.items())}",
          flush=True)


def report(samples: list[Sample], settle_minutes: float) -> None:
    steady = [s for s in samples if s.minute >= settle_minutes]
    if len(steady) < 2:
        steady = samples[-2:]
    print(f"\nafter the first retention pass ({settle_minutes:g} min), "
          f"{len(steady)} sample(s), growth per hour:")
    tables = sorted({k for s in steady for k in s.rows})
    for name in ("rss_mb", "anon_mb", "file_mb", "cpu_pct", "state_kb", "wal_kb", "pruned_kb",
                 "loose", "packs", "unreachable", "unreachable_loose", "gitwarden_loose",
                 "in_flight", "reflog_only", *(f"rows.{t}" for t in tables)):
        print(f"  {name:28s} {per_hour(steady, name):+12.1f} /h")
    first, last = steady[0], steady[-1]
    pruned = [s.pruned_kb for s in steady if s.pruned_kb]
    state_ratio = pruned[-1] / pruned[0] if len(pruned) >= 2 else 1.0
    checks = [
        (f"state.db size right after each retention pass within 10 % "
         f"({pruned[0] if pruned else 0:.0f} -> {pruned[-1] if pruned else 0:.0f} KB, range "
         f"{min(pruned, default=0):.0f}-{max(pruned, default=0):.0f}; sampled between passes "
         f"{min(s.state_kb for s in steady):.0f}-{max(s.state_kb for s in steady):.0f} KB, "
         f"its WAL at most {max(s.wal_kb for s in steady):.0f} KB)",
         len(pruned) >= 2 and abs(state_ratio - 1.0) <= 0.10),
        (f"RSS within 10 MB ({first.rss_mb:.1f} -> {last.rss_mb:.1f} MB)",
         abs(last.rss_mb - first.rss_mb) <= 10.0),
        (f"no unreachable loose object (max {max(s.unreachable_loose for s in steady)}, "
         f"gitwarden's {max(s.gitwarden_loose for s in steady)})",
         all(s.unreachable_loose == 0 for s in steady)),
        (f"loose objects under gc.auto {GC_AUTO} (max {max(s.loose for s in steady)})",
         all(s.loose < GC_AUTO for s in steady)),
    ]
    for text, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {text}")


def run_samples(args: argparse.Namespace, proc: subprocess.Popen[bytes],
                daemon: psutil.Process, state_db: Path, main_dir: Path, started: float,
                samples: list[Sample]) -> bool:
    """Sample every `--sample-every` seconds until the end; False if the daemon died."""
    cpu = (sum(daemon.cpu_times()[:2]), time.monotonic())
    while (elapsed := time.monotonic() - started) < args.minutes * 60:
        next_sample = (len(samples) + 1) * args.sample_every
        time.sleep(max(0.0, min(next_sample, args.minutes * 60) - elapsed))
        if proc.poll() is not None:
            return False
        taken, cpu = sample((time.monotonic() - started) / 60, daemon, state_db, main_dir, cpu)
        taken.memory = daemon_memory(main_dir)
        samples.append(taken)
        print_sample(taken)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--write-interval", type=float, default=0.05)
    parser.add_argument("--commit-ratio", type=float, default=0.01)
    parser.add_argument("--base-every", type=int, default=2, metavar="TASKS",
                        help="move the base on every TASKS finished tasks (0: never)")
    parser.add_argument("--checkpoint-interval", default="20s")
    parser.add_argument("--retention", default="2m", help="[retention] max_age (and activity)")
    parser.add_argument("--retention-interval", default="1m",
                        help="[retention] interval (repacking keeps its defaults)")
    parser.add_argument("--sample-every", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--dir", type=Path, help="keep the repository here")
    args = parser.parse_args()
    # stopped early (SIGTERM): still stop the daemon and print what was measured
    signal.signal(signal.SIGTERM, _interrupt)

    root = args.dir or Path(tempfile.mkdtemp(prefix="gitwarden-soak-"))
    main_dir = generate_repo(root, args.files)
    (main_dir / "gitwarden.toml").write_text(config_text(args))
    git(main_dir, "add", "gitwarden.toml")
    git(main_dir, "commit", "-q", "-m", "gitwarden config")
    agents = add_agents(main_dir, args.agents)
    files = sorted(str(p.relative_to(main_dir)) for p in (main_dir / "src").rglob("*.py"))
    env = {**ENV, "GITWARDEN_NO_NOTIFY": "1"}
    log = open(root / "daemon.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "gitwarden", "watch"], cwd=main_dir,
                            env=env, stdout=log, stderr=log)
    daemon = psutil.Process(proc.pid)
    state_db = Path(git(main_dir, "rev-parse", "--git-common-dir").strip())
    state_db = (state_db if state_db.is_absolute() else main_dir / state_db) / "gitwarden" \
        / "state.db"
    deadline = time.monotonic() + 60
    while not state_db.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    print(f"soak: {args.agents} agents, {args.files} files, a write every "
          f"{args.write_interval * 1000:.0f} ms, {args.commit_ratio:.0%} committed, checkpoints "
          f"every {args.checkpoint_interval}, retention {args.retention} (pass every "
          f"{args.retention_interval}), {args.minutes:g} min; repository {main_dir}", flush=True)
    workload = Workload(main_dir, agents, files, args.write_interval, args.commit_ratio,
                        args.base_every)
    writer = threading.Thread(target=workload.run, daemon=True)
    started = time.monotonic()
    writer.start()
    samples: list[Sample] = []
    try:
        with contextlib.suppress(KeyboardInterrupt):
            if not run_samples(args, proc, daemon, state_db, main_dir, started, samples):
                print(f"daemon exited ({proc.returncode}); see {root / 'daemon.log'}")
                return 1
    finally:
        workload.stop.set()
        writer.join(timeout=10)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    print(f"\n{workload.writes} writes, {workload.commits} commits, {workload.tasks} "
          f"finished tasks (branch reset to main), {workload.base_commits} base commits, "
          f"{len(workload.errors)} failed commit(s)")
    retention = float(_seconds(args.retention)) + float(_seconds(args.retention_interval))
    if len(samples) >= 2:
        report(samples, settle_minutes=retention / 60 + 1)
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _seconds(text: str) -> float:
    from gitwarden.units import parse_duration

    return parse_duration(text)


if __name__ == "__main__":
    sys.exit(main())
