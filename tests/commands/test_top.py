"""`gitwarden top` in a real terminal (tmux), and without Textual installed."""

from __future__ import annotations

import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemonproc import wait_until
from tests.helpers.gitrepo import make_repo_with_agents, run_gitwarden, write


class Tmux:
    """A tmux server of our own (its own socket), one session running one command."""

    def __init__(self, command: str, cwd: Path, size: tuple[int, int] = (130, 40)) -> None:
        self.socket = f"gitwarden-test-{uuid.uuid4().hex[:8]}"
        self.run("new-session", "-d", "-s", "top", "-x", str(size[0]), "-y", str(size[1]),
                 "-c", str(cwd), command)

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=True, timeout=30).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "top")

    def flag(self, name: str) -> str:
        return self.run("display-message", "-p", "-t", "top", f"#{{{name}}}").strip()

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       check=False)


def _screen_with(tmux: Tmux, *words: str) -> str:
    """The screen when it shows every one of `words`, else ""."""
    screen = tmux.screen()
    return screen if all(word in screen for word in words) else ""


@pytest.fixture()
def tmux_session() -> Iterator[list[Tmux]]:
    sessions: list[Tmux] = []
    yield sessions
    for session in sessions:
        session.kill()


def test_top_in_a_real_terminal_shows_the_agents_and_quits_on_q(
        tmp_path: Path, tmux_session: list[Tmux]) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    write(repo.agents["alpha"], {"src/app.py": "alpha\n"})
    write(repo.agents["beta"], {"src/app.py": "beta\n"})
    top = f"{shlex.quote(sys.executable)} -m gitwarden top"
    tmux = Tmux(f"{top}; echo top-exited-$?; sleep 600", repo.main)
    tmux_session.append(tmux)
    screen = wait_until(lambda: _screen_with(tmux, "beta", "✗1"), 60,
                        "top never showed the agents")
    assert "alpha" in screen and "no daemon: reading the store and git" in screen
    assert tmux.flag("alternate_on") == "1"
    tmux.run("send-keys", "-t", "top", "q")
    after = wait_until(lambda: _screen_with(tmux, "top-exited-0"), 30, "top did not quit on q")
    # The terminal is restored: main screen, no mouse reporting, cursor shown, no leftovers.
    assert tmux.flag("alternate_on") == "0"
    assert tmux.flag("mouse_any_flag") == "0"
    assert tmux.flag("cursor_flag") == "1"
    assert "overlaps between agents" not in after


def test_top_without_textual_is_one_line_naming_the_install(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",))
    blocked = ("import sys; sys.modules['textual'] = None; sys.argv[1:] = ['top']; "
               "from gitwarden.cli import main; sys.exit(main())")
    proc = subprocess.run([sys.executable, "-c", blocked], cwd=repo.main, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stderr == ("gitwarden: error: gitwarden top needs Textual, which is not "
                           "installed: pip install 'gitwarden[tui]'\n")


def test_top_refuses_a_pipe(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",))
    proc = run_gitwarden("top", cwd=repo.main)
    assert proc.returncode == 2
    assert proc.stderr.startswith("gitwarden: error: gitwarden top needs a terminal")
