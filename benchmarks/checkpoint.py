"""Checkpoint speed against git itself, measured side by side in one run.

A generated repository with 50,000 files, 10 modified and 1 new; prints the median times of
  baseline: cp index tmp; GIT_INDEX_FILE=tmp git add -A; git write-tree
  (a) a full checkpoint (in process)                    goal <= 1.0 x baseline
  (b) an incremental checkpoint given the changed paths goal <= 0.05 x baseline (issue 17)
  (c) the whole `gitwarden checkpoint` CLI process      goal <= 1.2 x baseline (issue 17)
      - no daemon: the CLI scans the worktree itself
      - daemon running (a real `gitwarden watch`, started in the same run): the daemon
        takes it from its pending paths, the files written just before the call included;
        measured against the baseline measured beside it while the daemon runs
Usage: python benchmarks/checkpoint.py [--files N] [--rounds R] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _repo import compile_package, wait_for_daemon

ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
       "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env or ENV, check=True,
                          capture_output=True, text=True).stdout


def generate(root: Path, files: int) -> tuple[Path, Path]:
    main = root / "repo"
    main.mkdir(parents=True)
    git(main, "init", "-q", "-b", "main")
    for i in range(files):
        directory = main / f"pkg{i % 100:03d}" / f"mod{(i // 100) % 10}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"file{i}.py").write_text(f"value = {i}\n" * 4)
    # No `gc --auto` detached into the background of the measurement: the commit of 50,000
    # new objects would start one. Packed now, as a repository of that size is.
    git(main, "config", "gc.auto", "0")
    git(main, "add", "-A")
    git(main, "commit", "-q", "-m", "generated")
    git(main, "gc", "-q")
    agent = root / "agent"
    git(main, "worktree", "add", "-q", "-b", "agent", str(agent))
    git(agent, "status", "--porcelain")  # refresh stat data the way an agent's git would
    return main, agent


def touch_changes(agent: Path, round_: int) -> list[str]:
    changed = []
    for i in range(10):
        rel = f"pkg{i:03d}/mod0/file{i}.py"
        with open(agent / rel, "a") as handle:
            handle.write(f"# edit {round_}\n")
        changed.append(rel)
    new = f"new_{round_}.py"
    (agent / new).write_text("new = True\n")
    changed.append(new)
    return changed


def median_time(action: Callable[[], object], rounds: int,
                prepare: Callable[[int], object] | None = None) -> float:
    samples = []
    for round_ in range(rounds):
        if prepare is not None:
            prepare(round_)
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def settler(main: Path) -> Callable[[], object]:
    """Waits until the daemon has handled the file events queued so far."""
    from gitwarden.control.socket import request
    from gitwarden.git.repository import locate_repo

    repo = locate_repo(main)
    return lambda: request(repo, "flush", timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()

    from gitwarden.agents.workspace import Workspace
    from gitwarden.checkpoints.take import take_checkpoint

    compile_package()
    root = Path(tempfile.mkdtemp(prefix="gw-bench-", dir=args.dir))
    try:
        print(f"generating {args.files} files in {root} ...", flush=True)
        _main, agent = generate(root, args.files)
        git_dir = Path(git(agent, "rev-parse", "--absolute-git-dir").strip())
        scratch = root / "baseline-index"
        counter = iter(range(10_000))

        def prepare(_: int) -> None:
            touch_changes(agent, next(counter))

        def baseline() -> None:
            shutil.copyfile(git_dir / "index", scratch)
            env = {**ENV, "GIT_INDEX_FILE": str(scratch)}
            git(agent, "add", "-A", env=env)
            git(agent, "write-tree", env=env)

        workspace = Workspace.load(agent)
        time.sleep(0.1)  # a base is recorded only when the index is older than its scan
        take_checkpoint(workspace, "agent")  # first checkpoint: the base of incremental ones
        last_changed: list[str] = []

        def prepare_incremental(_: int) -> None:
            last_changed[:] = touch_changes(agent, next(counter))

        def full() -> None:
            assert take_checkpoint(workspace, "agent").status == "created"

        def incremental() -> None:
            result = take_checkpoint(workspace, "agent", changed_paths=last_changed)
            assert result.status == "created" and result.incremental

        def cli() -> None:
            subprocess.run([sys.executable, "-m", "gitwarden", "checkpoint", "agent"],
                           cwd=agent, env=ENV, check=True, capture_output=True)

        # Interleave the measurements so that cache and load drift hit all of them alike.
        results: dict[str, list[float]] = {"baseline": [], "full": [], "incremental": [],
                                           "cli": []}
        actions = {"baseline": (baseline, prepare), "full": (full, prepare),
                   "incremental": (incremental, prepare_incremental), "cli": (cli, prepare)}
        for _ in range(args.rounds):
            for name, (action, prep) in actions.items():
                results[name].append(median_time(action, 1, prep))
        # The same with a daemon watching the repository. The baseline is measured once the
        # daemon has handled the round's file events (it stays out of git's way); the CLI right
        # after the writes, so that it pays for the daemon's handling of them.
        daemon = subprocess.Popen([sys.executable, "-m", "gitwarden", "watch"], cwd=_main,
                                  env=ENV, stdout=subprocess.DEVNULL,
                                  stderr=open(root / "daemon.log", "wb"))  # noqa: SIM115
        try:
            wait_for_daemon(_main)
            settle = settler(_main)
            settle()
            time.sleep(1.0)  # its checkpoints at start are done
            warm: dict[str, list[float]] = {"baseline": [], "cli": []}
            for _ in range(args.rounds):
                warm["baseline"].append(median_time(baseline, 1, lambda r: (prepare(r),
                                                                            settle())))
                warm["cli"].append(median_time(cli, 1, prepare))
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
        taken = (root / "daemon.log").read_text("utf-8", "replace").count("for the CLI")
        medians = {name: statistics.median(values) for name, values in results.items()}
        base = medians["baseline"]
        warm_base = statistics.median(warm["baseline"])
        print(f"files: {args.files}, changed: 10 modified + 1 new, rounds: {args.rounds}")
        print(f"baseline (cp index; git add -A; git write-tree): {base * 1000:8.1f} ms; "
              f"beside the daemon: {warm_base * 1000:.1f} ms")
        rows = [("(a) full checkpoint", medians["full"], base, 1.0),
                ("(b) incremental checkpoint", medians["incremental"], base, 0.05),
                ("(c) CLI, no daemon", medians["cli"], base, 1.2),
                ("(c) CLI, daemon running", statistics.median(warm["cli"]), warm_base, 1.2)]
        for label, value, against, goal in rows:
            ratio = value / against
            verdict = "ok" if ratio <= goal else "over goal"
            print(f"{label:32s} {value * 1000:8.1f} ms  ratio {ratio:5.2f}  "
                  f"(goal <= {goal}) {verdict}")
        print(f"checkpoints the daemon took for the CLI: {taken} of {args.rounds}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
