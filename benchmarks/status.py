"""`gitwarden status --json` (whole process) against `git status --porcelain` in every worktree.

Generated repository: 20,000 files, four agent worktrees, each with a few edits and a commit.
Goal: ratio <= 3.0. Run: python benchmarks/status.py [--files N] [--runs N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _repo import ENV, add_agents, compile_package, generate_repo, git, median_of


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory(prefix="gitwarden-bench-") as tmp:
        main_path = generate_repo(Path(tmp), args.files)
        agents = add_agents(main_path, args.agents)
        for n, path in enumerate(agents):
            for k in range(5):
                target = path / "src" / f"pkg{n * 10 + k:04d}" / "mod000.py"
                target.write_text(target.read_text() + f"# agent {n}\n")
            git(path, "commit", "-q", "-am", f"agent {n} work")
            (path / "src" / "pkg0100" / "mod001.py").write_text(f"# shared edit {n}\n")
            (path / f"new_{n}.txt").write_text("untracked\n")
        worktrees = [main_path, *agents]

        def git_status_everywhere() -> None:
            for path in worktrees:
                subprocess.run(["git", "status", "--porcelain"], cwd=path, env=ENV,
                               check=True, capture_output=True)

        def gitwarden_status() -> None:
            subprocess.run([sys.executable, "-m", "gitwarden", "status", "--json"],
                           cwd=main_path, env=ENV, check=True, capture_output=True)

        baseline = median_of(args.runs, git_status_everywhere)
        ours = median_of(args.runs, gitwarden_status)
    print(f"repository: {args.files} files, {args.agents} agents (+ main worktree)")
    print(f"git status --porcelain in {len(worktrees)} worktrees: {baseline * 1000:8.1f} ms")
    print(f"gitwarden status --json (whole process):   {ours * 1000:8.1f} ms")
    print(f"ratio: {ours / baseline:.2f}  (goal <= 3.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
