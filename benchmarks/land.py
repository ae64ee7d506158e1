"""Landing: health runs used for a batch with one bad agent, and candidate build time.

1. Eight agents queued, one of them (the sixth) breaks the check: `process_queue` lands the
   other seven and ejects the bad one. Health runs used, against the goal ceil(log2 8) + 2 and
   against landing each agent separately (one run each, plus the re-run that confirms the
   failure).
2. Building the candidate (base + 8 agents, merge strategy) in the object database with
   `git merge-tree --write-tree`, against `git merge` of the same 8 branches in a worktree
   (checkout of the base, eight merges), measured side by side in one run.

Run: .venv/bin/python benchmarks/land.py [--files 2000] [--check-sleep 0]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._repo import add_agents, generate_repo, git, median_of
from gitwarden.agents.workspace import Workspace
from gitwarden.landing import queue
from gitwarden.landing.candidate import Member, build_candidate
from gitwarden.landing.land import process_queue
from gitwarden.store.db import Store

AGENTS = 8
BAD = 5  # the sixth agent breaks the check


def hermetic(root: Path) -> None:
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = b@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    os.environ.update({"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
                       "GIT_CONFIG_NOSYSTEM": "1", "GITWARDEN_NO_NOTIFY": "1"})


def setup(root: Path, files: int, check_sleep: float) -> tuple[Path, list[Path]]:
    main = generate_repo(root, files)
    (main / "status.txt").write_text("ok\n")
    sleep = f"sleep {check_sleep} && " if check_sleep else ""
    (main / "gitwarden.toml").write_text(
        f'[health]\non_commit = false\n[health.checks]\ntest = "{sleep}grep -qx ok status.txt"\n')
    git(main, "add", "-A")
    git(main, "commit", "-q", "-m", "check")
    agents = add_agents(main, AGENTS)
    for number, path in enumerate(agents):
        (path / f"agent{number}.txt").write_text(f"work of agent {number}\n")
        if number == BAD:
            (path / "status.txt").write_text("broken\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"agent {number}")
    return main, agents


def batch_runs(main: Path) -> tuple[int, list[str], list[str]]:
    workspace = Workspace.load(main)
    with Store.open(workspace.repo) as store:
        for agent in workspace.agents:
            assert agent.head is not None
            queue.enqueue(store, agent.name, agent.head, "merge")
        report = process_queue(workspace, store)
    return report.runs, report.landed, list(report.ejected)


def candidate_vs_git_merge(main: Path, runs: int) -> tuple[float, float]:
    workspace = Workspace.load(main)
    base = git(main, "rev-parse", "main").strip()
    members = [Member(a.name, a.branch, a.head or "", "merge") for a in workspace.agents]

    def in_memory() -> object:
        return build_candidate(workspace.repo.common_dir, base, members, "main")

    scratch = main.parent / "merge-worktree"
    git(main, "worktree", "add", "-q", "--detach", str(scratch), base)

    def in_worktree() -> object:
        git(scratch, "checkout", "-q", "--detach", base)
        for member in members:
            git(scratch, "merge", "-q", "--no-edit", "--no-ff", member.head)
        return None

    return median_of(runs, in_memory), median_of(runs, in_worktree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--check-sleep", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitwarden-bench-land-") as tmp:
        root = Path(tmp)
        hermetic(root)
        main_dir, _agents = setup(root / "timing", args.files, 0.0)
        memory, worktree = candidate_vs_git_merge(main_dir, args.runs)
        main_dir, _agents = setup(root / "queue", 200, args.check_sleep)
        runs, landed, ejected = batch_runs(main_dir)
    goal = math.ceil(math.log2(AGENTS)) + 2
    separately = AGENTS + 1
    print(f"landing {AGENTS} agents, agent{BAD} bad: landed {len(landed)}, ejected "
          f"{', '.join(ejected)}")
    print(f"  health runs, batch: {runs} (goal <= ceil(log2 {AGENTS}) + 2 = {goal}: "
          f"{'met' if runs <= goal else 'NOT met'})")
    print(f"  health runs, each agent landed separately: {separately} "
          f"({AGENTS} + 1 re-run to confirm the failure)")
    print(f"  ratio batch / separately: {runs / separately:.2f}")
    print(f"candidate of base + {AGENTS} agents ({args.files} files), median of {args.runs}:")
    print(f"  git merge-tree --write-tree (no worktree): {memory * 1000:.1f} ms")
    print(f"  git merge in a worktree:                   {worktree * 1000:.1f} ms")
    print(f"  ratio merge-tree / git merge: {memory / worktree:.2f}")


if __name__ == "__main__":
    main()
