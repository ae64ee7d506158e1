"""Culprit finding: health runs used and wall time, against the bound and against git.

1. One bad commit among 16 commits of an agent: gitwarden's detect + confirm + bisect, against
   the ceil(log2 n) + 2 bound, against running the check on every commit, and against
   `git bisect run` on the same history (side by side, same check).
2. One bad agent among 8: the integration check (base merged with every agent in memory) and
   the combination search, against the bound and against checking each agent merged alone.
3. N agents on one unchanged base: `health --run` runs each check once (results belong to the
   tree), against running the check once per agent.

Run: .venv/bin/python benchmarks/culprit.py [--check-sleep SECONDS]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitwarden.agents.workspace import Workspace
from gitwarden.health import integration as health_integration
from gitwarden.health import service as health_service
from gitwarden.health import table as health_state
from gitwarden.health.runner import run_on_commit
from gitwarden.store.db import Store


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def commit(cwd: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (cwd / rel).write_text(text)
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD").strip()


def hermetic(root: Path) -> None:
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = b@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    os.environ.update({"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
                       "GIT_CONFIG_NOSYSTEM": "1", "GITWARDEN_NO_NOTIFY": "1"})


def make_repo(root: Path, check: str, agents: list[str]) -> Path:
    main = root / "repo"
    main.mkdir()
    git(main, "init", "-q", "-b", "main")
    config = f'[health.checks]\ntest = "{check}"\n'
    config += "".join(f'\n[agents.{a}]\npolicy = "notify"\n' for a in agents)
    commit(main, {"status.txt": "ok\n", "gitwarden.toml": config}, "initial")
    for name in agents:
        git(main, "worktree", "add", "-q", "-b", name, str(root / name))
    return main


def bench_commits(root: Path, check: str, n: int, bad_index: int) -> None:
    main = make_repo(root, check, ["alpha"])
    alpha = root / "alpha"
    commits = []
    for i in range(n):
        files = {f"file{i}.txt": f"{i}\n"}
        if i == bad_index:
            files["status.txt"] = "broken\n"
        commits.append(commit(alpha, files, f"commit {i}"))
    workspace = Workspace.load(main)
    started = time.perf_counter()
    health_service.on_agent_commit(workspace, "alpha", commits[-2], commits[-1])
    ours = time.perf_counter() - started
    with Store.open(workspace.repo) as store:
        (verdict,) = health_state.latest_verdicts(store, "alpha")
        verify = health_state.count_runs(store, "alpha", trigger="verify")
        runs = health_state.count_runs(store, "alpha") - verify
    assert verdict.culprit == commits[bad_index], verdict

    check_config = workspace.config.health.checks[0]
    started = time.perf_counter()
    for c in commits:
        run_on_commit(workspace.repo, workspace.config.health, check_config, c, "every")
    every = time.perf_counter() - started

    bisect_dir = root / "bisect"
    git(main, "worktree", "add", "-q", "--detach", str(bisect_dir), commits[-1])
    started = time.perf_counter()
    git(bisect_dir, "bisect", "start", commits[-1], git(main, "rev-parse", "main").strip())
    out = subprocess.run(["git", "bisect", "run", "sh", "-c", check], cwd=bisect_dir,
                         capture_output=True, text=True, check=True).stdout
    git_time = time.perf_counter() - started
    git_steps = out.count("running ")
    git(bisect_dir, "bisect", "reset")
    assert f"{commits[bad_index]} is the first bad commit" in out

    bound = math.ceil(math.log2(n)) + 2
    print(f"one bad commit among {n} (bad = commit {bad_index}):")
    print(f"  gitwarden health runs: {runs} (detect + confirm + bisect; "
          f"bound ceil(log2 {n})+2 = {bound}) {'OK' if runs <= bound else 'OVER'}")
    print(f"  + {verify} verification run(s): the base head / clean point, never checked "
          "before, must pass before the agent is blamed")
    print(f"  git bisect run:        {git_steps} runs (no confirmation re-run)")
    print(f"  wall time: gitwarden {ours:.3f}s, check on every commit {every:.3f}s "
          f"({n} runs, ratio {ours / every:.2f}), git bisect run {git_time:.3f}s "
          f"(ratio gitwarden/git {ours / git_time:.2f})")


def bench_agents(root: Path, check: str, n: int, bad_index: int) -> None:
    names = [f"agent{i}" for i in range(n)]
    main = make_repo(root, check, names)
    for i, name in enumerate(names):
        files = {f"{name}.txt": "work\n"}
        if i == bad_index:
            files["status.txt"] = "broken\n"
        commit(root / name, files, f"{name} work")
    workspace = Workspace.load(main)
    with Store.open(workspace.repo) as store:
        started = time.perf_counter()
        result = health_integration.run_integration(workspace, store)
        ours = time.perf_counter() - started
    assert result.culprits == (names[bad_index],), result
    import pygit2

    repo = pygit2.Repository(str(main))
    base = git(main, "rev-parse", "main").strip()
    check_config = workspace.config.health.checks[0]
    started = time.perf_counter()
    for name in names:  # each agent merged onto the base alone
        head = git(main, "rev-parse", name).strip()
        tree = health_integration._merged_tree(repo, base, [head])
        assert tree is not None
        single = health_integration._integration_commit(repo, base, tree, [name])
        run_on_commit(workspace.repo, workspace.config.health, check_config, single, "each")
    every = time.perf_counter() - started
    bound = math.ceil(math.log2(n)) + 2
    print(f"one bad agent among {n} (bad = {names[bad_index]}):")
    print(f"  gitwarden health runs: {result.runs} (integration run + search; "
          f"bound ceil(log2 {n})+2 = {bound}) {'OK' if result.runs <= bound else 'OVER'}")
    print(f"  wall time: gitwarden {ours:.3f}s, each agent alone {every:.3f}s "
          f"({n} runs, ratio {ours / every:.2f})")


def bench_unchanged_base(root: Path, check: str, n: int) -> None:
    names = [f"agent{i}" for i in range(n)]
    main = make_repo(root, check, names)
    workspace = Workspace.load(main)
    with Store.open(workspace.repo) as store:
        started = time.perf_counter()
        report = health_service.run_health(workspace, workspace.agents, store=store,
                                           integration=False)
        ours = time.perf_counter() - started
        runs = health_state.count_runs(store)
    assert all(r["verdict"] == "pass" for r in report["agents"]), report
    check_config = workspace.config.health.checks[0]
    base = git(main, "rev-parse", "main").strip()
    started = time.perf_counter()
    for name in names:  # what checking each agent's HEAD on its own costs
        run_on_commit(workspace.repo, workspace.config.health, check_config, base, name)
    every = time.perf_counter() - started
    cached = sum(1 for r in report["agents"] if r["cached"])
    print(f"{n} agents on one unchanged base:")
    print(f"  checks run for {n} agents on one unchanged base = {runs} "
          f"({'OK' if runs == 1 else 'OVER'}; {cached} result(s) reused)")
    print(f"  wall time: gitwarden {ours:.3f}s, the check once per agent {every:.3f}s "
          f"({n} runs, ratio {ours / every:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-sleep", type=float, default=0.05,
                        help="seconds the check sleeps, standing in for a build (default 0.05)")
    args = parser.parse_args()
    check = f"sleep {args.check_sleep}; grep -qx ok status.txt"
    print(f"check: {check!r}")
    with tempfile.TemporaryDirectory(prefix="gitwarden-culprit-") as tmp:
        hermetic(Path(tmp))
        for bad in (3, 11, 15):
            case = Path(tmp) / f"commits{bad}"
            case.mkdir()
            bench_commits(case, check, 16, bad)
        for bad in (0, 5, 6):
            case = Path(tmp) / f"agents{bad}"
            case.mkdir()
            bench_agents(case, check, 8, bad)
        case = Path(tmp) / "unchanged"
        case.mkdir()
        bench_unchanged_base(case, check, 6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
