"""The watcher is chosen in one place: inotify on Linux, watchdog's platform observer
elsewhere, polling when neither exists or when GITWARDEN_WATCHER asks for it. macOS (FSEvents)
and BSD (kqueue) cannot run here: a platform without inotify is simulated by making
`watchdog.observers.inotify_c` raise at import in a subprocess."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitwarden.daemon.observer_watcher import ObserverWatcher
from gitwarden.daemon.watcher_choice import choose_watcher, start_or_poll
from gitwarden.errors import ConfigError
from tests.helpers.daemon_state import BASE, conflicts_json
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import make_repo_with_agents, write

NO_INOTIFY = """\
import sys


class _NoInotify:
    def find_spec(self, name, path=None, target=None):
        if name == "watchdog.observers.inotify_c":
            raise ImportError("inotify_c: not on this platform (simulated)")
        return None


sys.meta_path.insert(0, _NoInotify())
"""


def _poison(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_INOTIFY, encoding="utf-8")
    return {"PYTHONPATH": f"{site}:{Path(__file__).resolve().parents[2]}"}


def test_daemon_imports_and_polls_where_inotify_c_raises_at_import(tmp_path: Path) -> None:
    env = _poison(tmp_path)
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys\n"
         "try:\n    import watchdog.observers.inotify_c\nexcept ImportError:\n    pass\n"
         "else:\n    sys.exit('inotify_c imported: the simulation did not take')\n"
         "import gitwarden.daemon.service, gitwarden.commands.watch, gitwarden.cli\n"
         "from gitwarden.daemon.watcher_choice import choose_watcher\n"
         "print(choose_watcher(print).kind)\n"],
        env={**os.environ, **env}, capture_output=True, text=True, check=False)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "polling"

    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": '[watch]\ndebounce = "50ms"\npoll_interval = "200ms"\n'})
    daemon = DaemonProcess(repo.main, env=env)
    try:
        assert {a["watching"] for a in daemon.request("status")["agents"]} == {"polling"}
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 3\n", "alpha\n")})
        write(repo.agents["beta"], {"f.txt": BASE.replace("line 3\n", "beta\n")})
        overlaps = wait_until(lambda: conflicts_json(repo.main)["overlaps"], 20,
                              "polling found no overlap", daemon)
        assert overlaps[0]["path"] == "f.txt"
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_each_platform_gets_its_watcher() -> None:
    assert choose_watcher(print, platform="linux").kind == "inotify"
    # Any platform but Linux gets watchdog's native observer (here the inotify one stands in).
    assert choose_watcher(print, platform="darwin").kind.startswith("observer:")
    assert choose_watcher(print, "observer").kind == "observer:inotify"
    assert choose_watcher(print, "polling").kind == "polling"


def test_an_unknown_forced_watcher_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GITWARDEN_WATCHER='fsevent' is not one of"):
        choose_watcher(print, "fsevent")
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE})
    proc = subprocess.run([sys.executable, "-m", "gitwarden", "watch"], cwd=repo.main,
                          env={**os.environ, "GITWARDEN_WATCHER": "fsevent"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "GITWARDEN_WATCHER='fsevent' is not one of inotify, observer, polling" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_watcher_the_platform_refuses_to_start_falls_back_to_polling() -> None:
    def no_instances() -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    refused = ObserverWatcher(print, no_instances, "observer:kqueue")
    assert start_or_poll(refused).kind == "polling"
