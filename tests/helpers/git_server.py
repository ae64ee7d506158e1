"""A real git server on the loopback interface (`git daemon` with receive-pack) and clones of
it standing in for machines, each with its own state, for the several-machines tests."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.gitrepo import commit_all, git, make_repo, write

BASE_TEXT = "".join(f"line {i}\n" for i in range(1, 11))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GitServer:
    """`git daemon --enable=receive-pack` serving `base` on 127.0.0.1 only; can be stopped and
    started again on the same port (a remote that goes away and comes back)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = base / "git-daemon.log"

    def url(self, name: str = "shared.git") -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 (owned by the process)
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
             "--listen=127.0.0.1", f"--port={self.port}", f"--base-path={self.base}",
             "--informative-errors", str(self.base)],
            stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = subprocess.run(["git", "ls-remote", self.url()], capture_output=True,
                                   check=False)
            if probe.returncode == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"git daemon did not start: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def bare(self, name: str = "shared.git") -> Path:
        return self.base / name


@contextmanager
def git_server(root: Path) -> Iterator[GitServer]:
    """A bare repository `shared.git` with one commit on main and a tag, served locally."""
    base = root / "server"
    base.mkdir()
    seed = make_repo(root, {"README.md": "hello\n", "src/app.py": BASE_TEXT},
                     name="seed")
    git(seed, "tag", "v1")
    git(base, "clone", "-q", "--bare", str(seed), "shared.git")
    server = GitServer(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Machine:
    """A clone of the shared repository with its own agents, config and HOME/XDG dirs."""

    name: str
    main: Path
    home: Path
    agents: dict[str, Path]

    @property
    def env(self) -> dict[str, str]:
        home = str(self.home)
        return {"HOME": home, "XDG_CONFIG_HOME": f"{home}/.config",
                "XDG_STATE_HOME": f"{home}/.local/state", "XDG_CACHE_HOME": f"{home}/.cache",
                "XDG_DATA_HOME": f"{home}/.local/share", "XDG_RUNTIME_DIR": f"{home}/run"}


def make_machine(root: Path, server: GitServer, name: str, agents: tuple[str, ...] = ("alpha",),
                 interval: str = "1s", extra_config: str = "") -> Machine:
    """Clone the served repository, add agent worktrees and a [remote] config."""
    top = root / name
    home = top / "home"
    (home / "run").mkdir(parents=True, mode=0o700)
    main = top / "main"
    git(top, "clone", "-q", server.url(), str(main))
    write(main, {"gitwarden.toml": f'[remote]\nname = "origin"\ninterval = "{interval}"\n'
                                   f'machine = "{name}"\n{extra_config}'})
    paths = {}
    for agent in agents:
        path = top / agent
        git(main, "worktree", "add", "-q", "-b", f"agent/{agent}", str(path))
        paths[agent] = path
    return Machine(name, main, home, paths)


def user_refs(url_or_path: str | Path) -> dict[str, str]:
    """The remote's refs the user owns (everything outside refs/gitwarden/)."""
    out = git(Path.cwd(), "ls-remote", str(url_or_path))
    refs = {}
    for line in out.splitlines():
        oid, _, ref = line.partition("\t")
        if not ref.startswith("refs/gitwarden/"):
            refs[ref] = oid
    return refs


def gitwarden_refs(bare: Path, prefix: str = "refs/gitwarden/") -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    return dict(line.split(" ", 1) for line in out.splitlines())


def commit_on(path: Path, files: dict[str, str], message: str = "change") -> str:
    write(path, files)
    return commit_all(path, message)
