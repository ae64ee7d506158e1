"""Helpers that build real repositories with real worktrees for the tests."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Hashable, Iterable, Mapping
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
    return _from_template(root, name, (), files).main


def make_repo_with_agents(root: Path, names: Iterable[str] = ("alpha", "beta", "gamma"),
                          files: Mapping[str, str | bytes] | None = None) -> RepoWithAgents:
    return _from_template(root, "repo", tuple(names), files)


def _build(root: Path, name: str, names: tuple[str, ...],
           files: Mapping[str, str | bytes] | None) -> RepoWithAgents:
    main = root / name
    main.mkdir(parents=True)
    git(main, "init", "-q", "-b", "main")
    write(main, files or {"README.md": "hello\n", "src/app.py": "print('hi')\n"})
    commit_all(main, "initial")
    repo = RepoWithAgents(main=main)
    for agent in names:
        repo.add_agent(agent)
    return repo


# Each layout is built once per session with git and then copied (a dozen git processes
# against a few file copies). A copy is the repository git would have built there: the same
# commits (the dates are fixed, and everything else git reads from the environment is part of
# the key), the worktree links rewritten to the new place, the index stat data refreshed;
# only the inert `.git/hooks/*.sample` files are left out (a tenth of the files a run leaves).
_templates: dict[Hashable, Path] = {}
_templates_lock = threading.Lock()
_templates_top: list[Path] = []


def _template_key(name: str, names: tuple[str, ...],
                  files: Mapping[str, str | bytes] | None) -> Hashable | None:
    env = os.environ
    if not (env.get("GIT_AUTHOR_DATE") and env.get("GIT_COMMITTER_DATE")) \
            or env.get("GIT_CONFIG_NOSYSTEM") != "1" or not env.get("GIT_CONFIG_GLOBAL"):
        return None  # commits made now, or config the key does not hold
    home = Path(env.get("HOME", "/nonexistent"))
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "git"
    read = [Path(env["GIT_CONFIG_GLOBAL"]), xdg / "ignore", xdg / "attributes"]
    try:
        configs = tuple(path.read_bytes() if path.exists() else None for path in read)
    except OSError:
        return None
    git_env = tuple(sorted((k, v) for k, v in env.items()
                           if k.startswith("GIT_") and k != "GIT_CONFIG_GLOBAL"))
    return (name, names, tuple(sorted((files or {}).items())), configs, git_env)


def _from_template(root: Path, name: str, names: tuple[str, ...],
                   files: Mapping[str, str | bytes] | None) -> RepoWithAgents:
    key = _template_key(name, names, files)
    if key is None:
        return _build(root, name, names, files)
    with _templates_lock:
        template = _templates.get(key)
        if template is None:
            if not _templates_top:
                _templates_top.append(Path(tempfile.mkdtemp(prefix="gitwarden-templates-")))
                atexit.register(shutil.rmtree, _templates_top[0], True)
            template = _templates_top[0] / str(len(_templates))
            _build(template, name, names, files)
            _templates[key] = template
    main = root / name
    root.mkdir(parents=True, exist_ok=True)
    for entry in (name, *names):
        shutil.copytree(template / entry, root / entry, symlinks=True,
                        ignore=shutil.ignore_patterns("*.sample"))
    repo = RepoWithAgents(main=main)
    for agent in names:
        repo.agents[agent] = root / agent
        (main / ".git" / "worktrees" / agent / "gitdir").write_bytes(
            os.fsencode(f"{root / agent}/.git\n"))
        (root / agent / ".git").write_bytes(os.fsencode(f"gitdir: {main}/.git/worktrees/{agent}\n"))
    for worktree in (main, *repo.agents.values()):
        git(worktree, "update-index", "-q", "--refresh")
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


def run_python(code: str, *args: str, cwd: Path | str, env: Mapping[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -c CODE ARGS` in its own process, forked from the session's server with
    gitwarden already imported (for programs that patch gitwarden, then run its CLI)."""
    full_env = {**os.environ, **(env or {})}
    server = fork_server(full_env)
    if server is not None:
        return server.run(args, os.path.abspath(cwd), full_env, None, timeout, code=code)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, env=full_env, timeout=timeout, check=False)


GitwardenProcess = subprocess.Popen[bytes] | ForkedProcess


def spawn_gitwarden(*args: str, cwd: Path | str, env: Mapping[str, str] | None = None,
                    stdout: int | IO[Any] | None = None, stderr: int | IO[Any] | None = None,
                    start_new_session: bool = False, fresh: bool = False) -> GitwardenProcess:
    """Start the real `gitwarden` CLI in its own process without waiting, as
    subprocess.Popen would (forked from the session's server unless `fresh` or fresh
    processes are asked for; stdin is the test's)."""
    full_env = {**os.environ, **(env or {})}
    server = None if fresh else fork_server(full_env)
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
