"""Rendering the systemd unit and the launchd plist, checked by systemd itself and plistlib."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitwarden.errors import UsageError
from gitwarden.integrations import service_files
from gitwarden.integrations.service_files import (
    launchd_label,
    render_launchd_plist,
    render_systemd_unit,
    systemd_escape_path,
    template_path,
    unit_name,
)

ESCAPE_SAMPLES = [
    "/", "/home/me/src/shop", "/home/me/my repo/", "//tmp//x/./y", "/.dotdir/a.b",
    "/srv/ünïcode-dash_under:colon", "/back\\slash/$dollar%percent", "/a/.hidden",
]


@pytest.mark.parametrize("path", ESCAPE_SAMPLES)
def test_escape_matches_systemd_escape(path: str) -> None:
    binary = shutil.which("systemd-escape")
    if binary is None:
        pytest.skip("systemd-escape is not installed")
    expected = subprocess.run([binary, "--path", path], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert systemd_escape_path(path) == expected


def test_escape_rejects_relative_and_dotdot() -> None:
    with pytest.raises(UsageError):
        systemd_escape_path("relative/path")
    with pytest.raises(UsageError):
        systemd_escape_path("/a/../b")
    with pytest.raises(UsageError, match="too long"):
        unit_name(Path("/" + "x" * 300))


def _unit_settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def test_unit_has_the_service_settings() -> None:
    text = render_systemd_unit(python="/opt/venv/bin/python", path_env="/opt/venv/bin:/usr/bin")
    s = _unit_settings(text)
    assert s["Service.Type"] == ["notify"]
    assert s["Service.NotifyAccess"] == ["main"]
    assert s["Service.Restart"] == ["on-failure"]
    assert s["Service.WatchdogSec"] == ["60"]
    assert s["Service.LogRateLimitIntervalSec"] == ["0"]
    assert s["Unit.StartLimitIntervalSec"] == ["600"]
    assert s["Unit.StartLimitBurst"] == ["5"]
    assert s["Install.WantedBy"] == ["default.target"]
    assert s["Service.Environment"] == ["PYTHONUNBUFFERED=1", '"PATH=/opt/venv/bin:/usr/bin"']
    assert s["Service.ExecStart"] == ['"/opt/venv/bin/python" -m gitwarden -C "%f" watch']
    assert "@" not in text.replace("gitwarden@", "")


def _verify(unit_text: str, repository: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed, cannot verify the unit")
    # A template cannot be verified as such: verify the instance for this repository.
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    instance = unit_dir / unit_name(repository)
    instance.write_text(unit_text, encoding="utf-8")
    return subprocess.run([analyze, "--user", "verify", str(instance)], capture_output=True,
                          text=True, check=False, timeout=60)


def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    repository = tmp_path / "shop-repo"
    repository.mkdir()
    proc = _verify(render_systemd_unit(), repository, tmp_path)
    assert proc.returncode == 0, proc.stderr
    # Unknown keys and bad values are only warnings for systemd: there must be none.
    assert proc.stderr.strip() == "", proc.stderr


def test_awkward_interpreter_path_is_quoted_for_systemd(tmp_path: Path) -> None:
    odd_dir = tmp_path / "py dir%h$HOME"
    odd_dir.mkdir()
    odd_python = odd_dir / "python"
    odd_python.symlink_to(sys.executable)
    repository = tmp_path / "repo"
    repository.mkdir()
    text = render_systemd_unit(python=str(odd_python), path_env="/usr/bin:/odd %dir")
    proc = _verify(text, repository, tmp_path)
    # A wrongly quoted path would be split or expanded and reported as not executable.
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_plist_parses_and_has_the_keys(tmp_path: Path) -> None:
    """launchctl itself cannot run on Linux: the plist is checked with plistlib only."""
    repository = tmp_path / "odd & <repo>"
    home = tmp_path / "home"
    text = render_launchd_plist(repository, python=sys.executable,
                                path_env="/usr/local/bin:/usr/bin", home=home)
    plist = plistlib.loads(text.encode("utf-8"))
    label = launchd_label(repository)
    assert plist["Label"] == label
    assert plist["ProgramArguments"] == [sys.executable, "-m", "gitwarden", "-C",
                                         str(repository), "watch"]
    assert os.path.isabs(plist["ProgramArguments"][0])
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert isinstance(plist["ThrottleInterval"], int) and plist["ThrottleInterval"] > 0
    logs = home / "Library" / "Logs" / "gitwarden"
    assert plist["StandardOutPath"] == str(logs / f"{label}.log")
    assert plist["StandardErrorPath"] == str(logs / f"{label}.err.log")
    assert plist["EnvironmentVariables"]["PATH"] == "/usr/local/bin:/usr/bin"
    assert plist["WorkingDirectory"] == str(repository)


def test_labels_differ_per_repository() -> None:
    first = launchd_label(Path("/home/me/shop"))
    assert first.startswith("io.gitwarden.watch.shop-")
    assert first != launchd_label(Path("/home/other/shop"))
    assert first == launchd_label(Path("/home/me/shop"))


def test_templates_are_found_in_an_installed_wheel_layout(tmp_path: Path) -> None:
    """A wheel puts the templates in gitwarden/templates/; an editable install uses ../systemd."""
    assert template_path("gitwarden@.service").parent.name == "systemd"
    source_package = Path(service_files.__file__).resolve().parent.parent
    site = tmp_path / "site"
    shutil.copytree(source_package, site / "gitwarden",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for kind in ("systemd", "launchd"):
        shutil.copytree(source_package.parent / kind, site / "gitwarden" / "templates" / kind)
    code = ("from gitwarden.integrations.service_files import template_path; "
            "print(template_path('gitwarden@.service')); print(template_path('gitwarden.plist'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(site)})
    assert out.stdout.splitlines() == [
        str(site / "gitwarden" / "templates" / "systemd" / "gitwarden@.service"),
        str(site / "gitwarden" / "templates" / "launchd" / "gitwarden.plist"),
    ]


def test_service_path_drops_duplicates_and_empty_entries() -> None:
    from gitwarden.integrations.service_files import service_path

    assert service_path("/a/bin:/usr/bin::/a/bin:/bin") == "/a/bin:/usr/bin:/bin"


def test_launchd_agent_runs_the_daemon_as_the_systemd_unit_does(tmp_path: Path) -> None:
    """Parity, checked on content: the same command line, PATH, unbuffered output, restart on
    failure only and stop timeout. What Linux cannot check: launchd loading the plist, the
    agent's log files being written, macOS's notifier (notify-py's, no D-Bus) showing a
    notification, FSEvents delivering events (the observer path runs here on inotify)."""
    repository = tmp_path / "shop"
    path_env = "/opt/homebrew/bin:/usr/bin:/bin"
    unit = render_systemd_unit(python=sys.executable, path_env=path_env)
    plist = plistlib.loads(render_launchd_plist(repository, python=sys.executable,
                                                path_env=path_env,
                                                home=tmp_path).encode("utf-8"))
    settings = [line.split("=", 1) for line in unit.splitlines() if "=" in line]
    exec_start = next(value for key, value in settings if key == "ExecStart")
    assert shlex.split(exec_start.replace("%f", str(repository))) == plist["ProgramArguments"]
    environment = [shlex.split(value)[0] for key, value in settings if key == "Environment"]
    assert f"PATH={plist['EnvironmentVariables']['PATH']}" in environment
    assert plist["EnvironmentVariables"]["PYTHONUNBUFFERED"] == "1"
    assert "PYTHONUNBUFFERED=1" in environment
    assert ("Restart", "on-failure") in [tuple(s) for s in settings]
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    stop = next(value for key, value in settings if key == "TimeoutStopSec")
    assert plist["ExitTimeOut"] == int(stop)
    for key in ("StandardOutPath", "StandardErrorPath"):
        assert os.path.isabs(plist[key])
