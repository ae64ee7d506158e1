"""An agent's `git commit` with the git guard installed, against the same commit without it.

Setup: a generated repository (default 20,000 files) with agent worktrees, scopes in
gitwarden.toml, a lock held by another agent, `gitwarden hooks install --git`. Each round
edits one file in scope, stages it and times `git commit` twice, interleaved: through the
guard (the installed pre-commit hook: the hook client, answered by the running daemon) and
plain (`--no-verify`, which skips the hook, as if none were installed); `python -c pass` is
timed in the same rounds. Rounds are `--settle` seconds apart (default 1 s: agents commit
seconds apart, and the daemon has finished reacting to the previous commit; `--settle 0`
measures commits in a tight loop, competing with that work for the 2 cores). The same is
then measured with no daemon running (the client runs the guard itself).
Goal (issue 17): added time (guard - plain, p50) <= 2 x `python -c pass` with the daemon.
Run: python benchmarks/commit.py [--files 20000] [--agents 8] [--rounds 30] [--settle 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _repo import ENV, add_agents, generate_repo, git, wait_for_daemon


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - start


def rounds(agent: Path, count: int, label: str, settle: float) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"python -c pass": [], "plain": [], label: []}
    for n in range(count + 1):
        for name, extra in (("plain", ["--no-verify"]), (label, [])):
            time.sleep(settle)
            target = agent / "src" / "pkg0002" / f"mod{n % 100:03d}.py"
            target.write_text(f"# {name} {n}\n")
            git(agent, "add", str(target))
            took = timed(["git", "commit", "-q", "-m", f"{name} {n}", *extra], agent)
            if n:  # the first round warms caches
                results[name].append(took)
        took = timed([sys.executable, "-c", "pass"], agent)
        if n:
            results["python -c pass"].append(took)
    return results


def p50(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--settle", type=float, default=1.0)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="gw-commit-") as tmp:
        print(f"generating {args.files} files and {args.agents} worktrees ...", flush=True)
        main_dir = generate_repo(Path(tmp), args.files)
        agents = add_agents(main_dir, args.agents)
        (main_dir / "gitwarden.toml").write_text("".join(
            f'[agents.agent{n}]\nscope = ["src/**"]\n' for n in range(args.agents)))
        gw = [python, "-m", "gitwarden"]
        subprocess.run([*gw, "lock", "src/pkg0001/**", "--reason", "bench"], cwd=agents[0],
                       env=ENV, check=True, capture_output=True)
        subprocess.run([*gw, "hooks", "install", "--git"], cwd=main_dir, env=ENV, check=True,
                       capture_output=True)
        me = agents[1]
        daemon = subprocess.Popen([*gw, "watch"], cwd=main_dir, env=ENV,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_daemon(main_dir)
            warm = rounds(me, args.rounds, "guard, daemon running", args.settle)
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
        cold = rounds(me, max(5, args.rounds // 3), "guard, no daemon", args.settle)
    baseline = p50(warm["python -c pass"])
    print(f"\n{args.files} files, {args.agents} agent worktrees; p50 of {args.rounds} rounds")
    print(f"{'case':34} {'p50 ms':>8} {'added ms':>9} {'added / python -c pass':>24}")
    for results in (warm, cold):
        plain = p50(results["plain"])
        for label, values in results.items():
            added = p50(values) - plain if label not in ("plain", "python -c pass") else None
            extra = (f"{added:9.1f} {added / p50(results['python -c pass']):24.2f}"
                     if added is not None else "")
            print(f"{label:34} {p50(values):8.1f} {extra}")
    added = p50(warm["guard, daemon running"]) - p50(warm["plain"])
    print(f"goal: added time with the daemon <= 2 x python -c pass -> "
          f"{'met' if added <= 2 * baseline else 'NOT met'} ({added:.1f} ms = "
          f"{added / baseline:.2f}x python -c pass, which took {baseline:.1f} ms)")
    return 0



if __name__ == "__main__":
    sys.exit(main())
