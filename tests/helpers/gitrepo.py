"""Helpers that build real repositories with real worktrees for the tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.helpers.forkserver import ForkedProcess, fork_server


def git(cwd: Path | str, *args: str, check: bool = True, env: Mapping[str, str] | None = None,
        input_text: str | None = None) -> str:
    """Run the real git CLI and return stdout (text)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env, input=input_text, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr}")
    return proc.stdout


def git_bytes(cwd: Path | str, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout


def write(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def commit_all(cwd: Path, message: str = "change") -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "--allow-empty", "-m", message)
    return git(cwd, "rev-parse", "HEAD").strip()


def make_nested_repo(path: Path) -> Path:
    """A separate repository with one commit at `path` (inside a worktree, it is a boundary)."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    write(path, {"inner.txt": "inner\n"})
    commit_all(path, "inner")
    return path


@dataclass
class RepoWithAgents:
    """A main worktree plus linked agent worktrees, each on its own branch."""

    main: Path
    agents: dict[str, Path] = field(default_factory=dict)

    def add_agent(self, name: str, branch: str | None = None) -> Path:
        path = self.main.parent / name
        git(self.main, "worktree", "add", "-q", "-b", branch or name, str(path))
        self.agents[name] = path
        return path


def make_repo(root: Path, files: Mapping[str, str | bytes] | None = None,
              name: str = "repo") -> Path:
    """A repository with one commit on `main`."""
    main = root / name
    main.mkdir(parents=True)
    git(main, "init", "-q", "-b", "main")
    write(main, files or {"README.md": "hello\n", "src/app.py": "print('hi')\n"})
    commit_all(main, "initial")
    return main


def make_repo_with_agents(root: Path, names: Iterable[str] = ("alpha", "beta", "gamma"),
                          files: Mapping[str, str | bytes] | None = None) -> RepoWithAgents:
    repo = RepoWithAgents(main=make_repo(root, files))
    for name in names:
        repo.add_agent(name)
    return repo


def run_gitwarden(*args: str, cwd: Path | str, env: Mapping[str, str] | None = None,
                  input_text: str | None = None, timeout: float = 60,
                  fresh: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real `gitwarden` CLI in its own process: forked from the session's pre-imported
    server (tests/helpers/forkserver.py says what that keeps of a fresh start), or with
    `fresh` a new interpreter (for tests of start-up itself)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    server = None if fresh else fork_server(full_env)
    if server is not None:
        return server.run(args, os.path.abspath(cwd), full_env, input_text, timeout)
    return subprocess.run([sys.executable, "-m", "gitwarden", *args], cwd=cwd,
                          capture_output=True, text=True, env=full_env, input=input_text,
                          timeout=timeout, check=False)


GitwardenProcess = subprocess.Popen[bytes] | ForkedProcess


def spawn_gitwarden(*args: str, cwd: Path | str, env: Mapping[str, str] | None = None,
                    stdout: int | IO[Any] | None = None, stderr: int | IO[Any] | None = None,
                    start_new_session: bool = False) -> GitwardenProcess:
    """Start the real `gitwarden` CLI in its own process without waiting, as
    subprocess.Popen would (forked from the session's server unless fresh processes are
    asked for; stdin is the test's)."""
    full_env = {**os.environ, **(env or {})}
    server = fork_server(full_env)
    if server is None:
        return subprocess.Popen([sys.executable, "-m", "gitwarden", *args], cwd=cwd,
                                env=full_env, stdout=stdout, stderr=stderr,
                                start_new_session=start_new_session)
    with contextlib.ExitStack() as stack:
        fds = [0]
        for given, inherited in ((stdout, 1), (stderr, 2)):
            if given is None:
                fds.append(inherited)
            elif given == subprocess.DEVNULL:
                fds.append(stack.enter_context(open(os.devnull, "wb")).fileno())
            elif isinstance(given, int):
                fds.append(given)
            else:
                fds.append(given.fileno())
        return server.start(args, os.path.abspath(cwd), full_env, (fds[0], fds[1], fds[2]),
                            start_new_session)


def baseline_tree(worktree: Path, tmp_path: Path) -> str:
    """`cp index tmp; GIT_INDEX_FILE=tmp git add -A; git write-tree`."""
    git_dir = Path(git(worktree, "rev-parse", "--absolute-git-dir").strip())
    temp_index = tmp_path / "baseline-index"
    shutil.copyfile(git_dir / "index", temp_index)
    # Dated before every entry: git compares file contents instead of trusting stat data the
    # copy's fresh mtime would make look safe (git compares whole seconds).
    os.utime(temp_index, (1, 1))
    env = {"GIT_INDEX_FILE": str(temp_index)}
    git(worktree, "add", "-A", env=env)
    return git(worktree, "write-tree", env=env).strip()


def unreachable_objects(cwd: Path | str) -> set[str]:
    """Objects no ref or worktree HEAD reaches (reflogs ignored: an object only a reflog
    keeps is garbage to come), as `git fsck --unreachable --no-reflogs` lists them."""
    out = git(cwd, "fsck", "--unreachable", "--no-reflogs", "--no-progress")
    return {line.split()[2] for line in out.splitlines() if line.startswith("unreachable ")}


def loose_objects(cwd: Path | str) -> set[str]:
    """The ids of the loose objects in the repository's object store."""
    objects = Path(cwd) / git(cwd, "rev-parse", "--git-common-dir").strip() / "objects"
    return {d.name + f.name for d in objects.iterdir() if len(d.name) == 2
            for f in d.iterdir()}
