"""Generated repositories for the benchmarks (real git, real worktrees)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True,
                          text=True).stdout


def generate_repo(root: Path, files: int, per_dir: int = 100) -> Path:
    """A repository with `files` small files in directories of `per_dir`, one commit."""
    main = root / "repo"
    main.mkdir(parents=True)
    git(main, "init", "-q", "-b", "main")
    for index in range(files):
        directory = main / "src" / f"pkg{index // per_dir:04d}"
        if index % per_dir == 0:
            directory.mkdir(parents=True)
        (directory / f"mod{index % per_dir:03d}.py").write_text(
            f"# module {index}\nVALUE = {index}\n\n\ndef f():\n    return VALUE\n")
    (main / ".gitignore").write_text("node_modules/\nbuild/\n")
    git(main, "add", "-A")
    git(main, "commit", "-q", "-m", "generated")
    return main


def add_agents(main: Path, count: int) -> list[Path]:
    paths = []
    for n in range(count):
        path = main.parent / f"agent{n}"
        git(main, "worktree", "add", "-q", "-b", f"agent{n}", str(path))
        paths.append(path)
    return paths


def timings(runs: int, action: Callable[[], object]) -> list[float]:
    """Sorted wall times of `runs` calls of action(), in seconds, after one warm-up."""
    action()
    result = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        result.append(time.perf_counter() - start)
    return sorted(result)


def median_of(runs: int, action: Callable[[], object]) -> float:
    values = timings(runs, action)
    return values[len(values) // 2]


def wait_for_daemon(main: Path, timeout: float = 300.0) -> None:
    """Block until the daemon of the repository at `main` answers on its control socket."""
    from gitwarden.control.socket import daemon_running
    from gitwarden.git.repository import locate_repo

    repo = locate_repo(main)
    deadline = time.monotonic() + timeout
    while not daemon_running(repo):
        if time.monotonic() > deadline:
            raise SystemExit("daemon did not start")
        time.sleep(0.1)


def compile_package() -> None:
    """Byte-compile gitwarden as an installed package is, so that a whole-process figure does
    not include compiling its sources (PYTHONDONTWRITEBYTECODE would make every run do that)."""
    import compileall

    import gitwarden

    compileall.compile_dir(str(Path(gitwarden.__file__).parent), quiet=1)
