"""`gitwarden service install|uninstall|status`, run as the real CLI.

There is no systemd user instance on CI (and the hermetic fixture points XDG_RUNTIME_DIR at an
empty directory, so none is reachable on a developer machine either): the error path is tested
against the real `systemctl --user`. The success paths run a stand-in `systemctl` script that
records its arguments. `launchctl` cannot exist on Linux, so it is always such a stand-in here.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from gitwarden.commands.service import RULE
from gitwarden.integrations.service_files import launchd_label, unit_name
from gitwarden.integrations.service_manager import Launchd, execute
from tests.helpers.gitrepo import make_repo, run_gitwarden

FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
if [ "$1" = "print" ] && [ -n "{print_output}" ]; then
  printf '%s\\n' "{print_output}"
fi
exit {status}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path, name="shop repo")


def _unit_dir(home: Path) -> Path:
    return home / ".config" / "systemd" / "user"


def _fake_bin(tmp_path: Path, name: str, *, status: int = 0,
              print_output: str = "") -> dict[str, str]:
    """A stand-in `name` on PATH that logs each call to calls.log; returns the env to use."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    tool = bin_dir / name
    tool.write_text(FAKE_TOOL.format(log=log, status=status, print_output=print_output))
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def _file_in_dry_run(output: str, path: Path) -> str:
    header = f"would write {path}:\n{RULE}\n"
    assert header in output, output
    return output.split(header, 1)[1].split(RULE + "\n", 1)[0]


def test_dry_run_prints_exactly_the_file_install_writes(repo: Path, hermetic: Path) -> None:
    unit_file = _unit_dir(hermetic) / "gitwarden@.service"
    dry = run_gitwarden("service", "install", "--dry-run", cwd=repo)
    assert dry.returncode == 0, dry.stderr
    assert not unit_file.exists()
    unit = unit_name(repo)
    assert f"would run: systemctl --user enable --now '{unit}'" in dry.stdout
    assert "loginctl enable-linger $USER" in dry.stdout

    installed = run_gitwarden("service", "install", "--no-start", cwd=repo)
    assert installed.returncode == 0, installed.stderr
    assert unit_file.read_text(encoding="utf-8") == _file_in_dry_run(dry.stdout, unit_file)
    assert f"wrote {unit_file}" in installed.stdout


def test_install_without_a_systemd_user_instance_fails_clearly(repo: Path, hermetic: Path) -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl is not installed")
    proc = run_gitwarden("service", "install", cwd=repo)
    assert proc.returncode == 1
    assert proc.stderr.startswith("gitwarden: error: the systemd user instance is not available")
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    # Nothing is half-installed.
    assert not (_unit_dir(hermetic) / "gitwarden@.service").exists()


def test_install_and_uninstall_run_systemctl(repo: Path, hermetic: Path, tmp_path: Path) -> None:
    env = _fake_bin(tmp_path, "systemctl")
    unit = unit_name(repo)
    proc = run_gitwarden("service", "install", "--repo", str(repo), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _calls(tmp_path) == ["systemctl --user show-environment",
                                "systemctl --user daemon-reload",
                                f"systemctl --user enable --now {unit}"]
    assert "loginctl enable-linger $USER" in proc.stdout
    unit_file = _unit_dir(hermetic) / "gitwarden@.service"
    assert "Type=notify" in unit_file.read_text()

    # What `enable` would have linked, plus another repository's instance.
    wants = _unit_dir(hermetic) / "default.target.wants"
    wants.mkdir()
    (wants / unit).symlink_to(unit_file)
    other = wants / "gitwarden@srv-other.service"
    other.symlink_to(unit_file)
    proc = run_gitwarden("service", "uninstall", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _calls(tmp_path)[3:] == ["systemctl --user show-environment",
                                    "systemctl --user show-environment",
                                    f"systemctl --user disable --now {unit}",
                                    "systemctl --user daemon-reload"]
    assert not (wants / unit).is_symlink()
    assert unit_file.exists(), "the template is still used by another repository"

    other.unlink()
    (wants / unit).symlink_to(unit_file)
    proc = run_gitwarden("service", "uninstall", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not unit_file.exists()


def test_uninstall_without_systemd_removes_the_files(repo: Path, hermetic: Path) -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl is not installed")
    assert run_gitwarden("service", "install", "--no-start", cwd=repo).returncode == 0
    proc = run_gitwarden("service", "uninstall", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "warning: the systemd user instance is not available" in proc.stderr
    assert not (_unit_dir(hermetic) / "gitwarden@.service").exists()


def test_status_without_systemd_reports_the_problem(repo: Path) -> None:
    import json

    assert run_gitwarden("service", "install", "--no-start", cwd=repo).returncode == 0
    proc = run_gitwarden("service", "status", "--json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["installed"] is True
    assert status["enabled"] is False
    assert status["service"] == unit_name(repo)
    if shutil.which("systemctl") is not None:
        assert status["running"] is None
        assert "systemd user instance is not available" in status["problem"]


def test_launchd_install_status_uninstall(repo: Path, hermetic: Path, tmp_path: Path) -> None:
    """launchctl cannot exist on Linux: a stand-in script records the calls instead."""
    env = _fake_bin(tmp_path, "launchctl", print_output="state = running\n\tpid = 4242")
    label = launchd_label(repo)
    uid = os.getuid()
    plist_file = hermetic / "Library" / "LaunchAgents" / f"{label}.plist"
    proc = run_gitwarden("service", "install", "--manager", "launchd", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _calls(tmp_path) == [f"launchctl print gui/{uid}",
                                f"launchctl bootout gui/{uid}/{label}",
                                f"launchctl bootstrap gui/{uid} {plist_file}"]
    plist = plistlib.loads(plist_file.read_bytes())
    assert plist["Label"] == label
    log_dir = hermetic / "Library" / "Logs" / "gitwarden"
    assert log_dir.is_dir()
    (log_dir / f"{label}.err.log").write_text("line 1\nwatching 3 agents\n")

    proc = run_gitwarden("service", "status", "--manager", "launchd", "--json", cwd=repo, env=env)
    import json

    status = json.loads(proc.stdout)
    assert (status["installed"], status["running"], status["pid"]) == (True, True, 4242)
    assert status["log_lines"] == ["line 1", "watching 3 agents"]

    proc = run_gitwarden("service", "uninstall", "--manager", "launchd", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _calls(tmp_path)[-1] == f"launchctl bootout gui/{uid}/{label}"
    assert not plist_file.exists()


def test_launchd_dry_run_matches_install(repo: Path, hermetic: Path, tmp_path: Path) -> None:
    env = _fake_bin(tmp_path, "launchctl")
    plist_file = hermetic / "Library" / "LaunchAgents" / f"{launchd_label(repo)}.plist"
    dry = run_gitwarden("service", "install", "--manager", "launchd", "--dry-run", cwd=repo,
                        env=env)
    assert dry.returncode == 0, dry.stderr
    assert not plist_file.exists()
    assert _calls(tmp_path) == [], "a dry run runs nothing"
    proc = run_gitwarden("service", "install", "--manager", "launchd", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    assert plist_file.read_text(encoding="utf-8") == _file_in_dry_run(dry.stdout, plist_file)


def test_missing_launchctl_is_a_clear_error(repo: Path) -> None:
    if shutil.which("launchctl") is not None:
        pytest.skip("a launchctl exists on this machine")
    proc = run_gitwarden("service", "install", "--manager", "launchd", cwd=repo)
    assert proc.returncode == 1
    assert proc.stderr == ("gitwarden: error: launchctl not found: launchd agents exist only "
                           "on macOS (on Linux use `--manager systemd`)\n")


@pytest.mark.parametrize(("args", "code", "message"), [
    (["service", "install", "--repo", "/nonexistent/repo"], 2, "does not exist"),
    (["service", "install", "--manager", "upstart"], 2, "invalid choice"),
    (["service", "status", "--lines", "-3"], 2, "--lines must not be negative"),
    (["service", "uninstall"], 1, "no systemd service is installed"),
])
def test_bad_input_gives_one_line(repo: Path, args: list[str], code: int, message: str) -> None:
    proc = run_gitwarden(*args, cwd=repo)
    assert proc.returncode == code
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_not_a_repository(tmp_path: Path) -> None:
    proc = run_gitwarden("service", "install", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("gitwarden: error:")
    assert "Traceback" not in proc.stderr


class _Recorder:
    """An injected runner: launchctl cannot run on Linux, so its calls are recorded."""

    def __init__(self, print_output: str = "") -> None:
        self.calls: list[tuple[str, ...]] = []
        self.print_output = print_output

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(tuple(argv))
        out = self.print_output if argv[1] == "print" else ""
        return subprocess.CompletedProcess(list(argv), 0, out, "")


def test_launchd_uses_bootstrap_and_bootout_in_the_gui_domain(tmp_path: Path) -> None:
    """What cannot be checked on Linux: that launchd accepts the plist and starts the agent."""
    recorder = _Recorder(print_output="\tstate = running\n\tpid = 4242\n")
    manager = Launchd(home=tmp_path, uid=501, runner=recorder)
    repository = tmp_path / "shop"
    label = launchd_label(repository)
    plist_file = tmp_path / "Library" / "LaunchAgents" / f"{label}.plist"
    execute(manager.plan_install(repository, start=True), manager)
    assert recorder.calls == [("launchctl", "print", "gui/501"),
                              ("launchctl", "bootout", f"gui/501/{label}"),
                              ("launchctl", "bootstrap", "gui/501", str(plist_file))]
    plist = plistlib.loads(plist_file.read_bytes())
    assert plist["ProgramArguments"][-3:] == ["-C", str(repository), "watch"]
    assert (tmp_path / "Library" / "Logs" / "gitwarden").is_dir()
    status = manager.status(repository, 0)
    assert (status.running, status.pid) == (True, 4242)
    recorder.calls.clear()
    execute(manager.plan_uninstall(repository), manager)
    assert recorder.calls == [("launchctl", "print", "gui/501"),
                              ("launchctl", "bootout", f"gui/501/{label}")]
    assert not plist_file.exists()
