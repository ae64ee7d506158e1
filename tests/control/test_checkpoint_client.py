"""`gitwarden checkpoint`'s client: which argument forms it sends to the daemon, and what it
imports on the way (issue 17: the CLI's start-up is its cost)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gitwarden.control import checkpoint_client
from gitwarden.control.checkpoint_client import parse, run
from tests.helpers.daemon_state import FAST, wait_for_start_checkpoints
from tests.helpers.daemonproc import DaemonProcess
from tests.helpers.gitrepo import git, make_repo_with_agents, write


@pytest.mark.parametrize(("words", "expected"), [
    ([], ([], False, None, False, False)),
    (["alpha", "beta"], (["alpha", "beta"], False, None, False, False)),
    (["--all", "--json"], ([], True, None, False, True)),
    (["alpha", "-m", "before refactor", "--clean"], (["alpha"], False, "before refactor",
                                                     True, False)),
    (["--message=x=y", "alpha"], (["alpha"], False, "x=y", False, False)),
    (["-m", ""], ([], False, "", False, False)),
])
def test_plain_forms_are_read(words: list[str],
                              expected: tuple[list[str], bool, str | None, bool, bool]) -> None:
    call = parse(words)
    assert call is not None
    assert (call.agents, call.all, call.message, call.clean, call.json) == expected


@pytest.mark.parametrize("words", [["--help"], ["-h"], ["--al"], ["-m"], ["-m", "--all"],
                                   ["--", "alpha"], ["--bogus"], [""], ["-mx"]])
def test_other_forms_are_left_to_the_clis_parser(words: list[str]) -> None:
    assert parse(words) is None


def test_without_a_daemon_the_cli_takes_it(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    monkeypatch.chdir(repo.agents["alpha"])
    monkeypatch.setattr(checkpoint_client, "asked", False)  # run() marks the process asked
    assert run(["checkpoint"]) is None
    assert run(["-C", str(tmp_path / "missing"), "checkpoint"]) is None


# What the client process loads besides the interpreter's own start-up.
HEAVY = ("pygit2", "argparse", "gitwarden.cli", "gitwarden.commands", "gitwarden.agents",
         "gitwarden.checkpoints", "gitwarden.git", "subprocess", "json", "socket", "re",
         "dataclasses", "sqlite3")


def test_the_daemon_path_imports_no_pygit2_nor_the_parser(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    write(repo.main, {"gitwarden.toml": FAST})
    alpha = repo.agents["alpha"]
    daemon = DaemonProcess(repo.main, env={"GITWARDEN_WATCHER": "inotify"})
    try:
        wait_for_start_checkpoints(daemon, ["alpha"])
        write(alpha, {"new.txt": "new\n"})
        program = ("import sys\nsys.argv = ['gitwarden', 'checkpoint', '--json']\n"
                   "from gitwarden.entry import main\ncode = main()\n"
                   "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\nsys.exit(code)\n")
        proc = subprocess.run([sys.executable, "-c", program], cwd=alpha, capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert '"status": "created"' in proc.stdout
        loaded = proc.stderr.splitlines()
        assert [m for m in loaded if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY))] \
            == []
        assert "for the CLI" in daemon.log()
        assert "new.txt" in git(alpha, "ls-tree", "-r", "--name-only",
                                "refs/gitwarden/checkpoints/alpha").split()
    finally:
        assert daemon.stop() == 0
