"""Hermetic environment for every test: own HOME, XDG dirs, git config and dates."""

from __future__ import annotations

import compileall
import signal
from pathlib import Path

import pytest

import gitwarden

pytest_plugins = ["tests.helpers.watchers"]

FIXED_DATE = "2026-01-01T00:00:00+00:00"

_CLEARED = (
    "GITWARDEN_AGENT", "GITWARDEN_BYPASS", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
    "DBUS_SESSION_BUS_ADDRESS", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "NO_COLOR",
    "GIT_CEILING_DIRECTORIES",
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile gitwarden once: the hermetic environment keeps the hundreds of gitwarden
    processes the tests start from writing bytecode, and without it each would compile every
    module it imports again (a fifth of the suite's time)."""
    compileall.compile_dir(Path(gitwarden.__file__).parent, quiet=1)
    # A suite started in the background (`pytest &`) inherits SIGINT ignored, and so would every
    # process it starts; the Ctrl-C tests need it delivered (a handled signal is reset on exec).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    runtime = home / "run"
    runtime.mkdir(mode=0o700)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test Agent\n\temail = agent@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
        "[commit]\n\tgpgsign = false\n[core]\n\tautocrlf = false\n",
        encoding="utf-8",
    )
    for key in _CLEARED:
        monkeypatch.delenv(key, raising=False)
    values = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(runtime),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_AUTHOR_NAME": "Test Agent",
        "GIT_AUTHOR_EMAIL": "agent@example.com",
        "GIT_COMMITTER_NAME": "Test Agent",
        "GIT_COMMITTER_EMAIL": "agent@example.com",
        "GIT_AUTHOR_DATE": FIXED_DATE,
        "GIT_COMMITTER_DATE": FIXED_DATE,
        "GITWARDEN_NO_NOTIFY": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return home
