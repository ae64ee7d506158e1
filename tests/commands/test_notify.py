"""`gitwarden notify --test` sends through every configured channel and reports each: the
user's command gets the notification in its environment; the desktop goes over a real D-Bus
session bus, and without one the report names the missing bus and its fix."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.helpers.dbus_notifications import session_bus
from tests.helpers.gitrepo import make_repo, run_gitwarden, write

RECORD = 'printf "%s\\n%s\\n%s\\n" "$GITWARDEN_TITLE" "$GITWARDEN_BODY" "$GITWARDEN_SEVERITY"'


def _no_notify_send_path(tmp_path: Path) -> str:
    """A PATH with git and sh but without notify-send, as on a headless box."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "sh"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_command_channel_gets_title_body_and_severity(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    out = tmp_path / "received.txt"
    write(repo, {"gitwarden.toml": "[notifications]\ndesktop = false\n"
                                   f"command = '{RECORD} > {out}'\n"})
    proc = run_gitwarden("notify", "--test", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines() == [
        "gitwarden: test notification", "If you read this, gitwarden can reach you here.",
        "warning"]
    assert proc.stdout.split() == ["ok", "command", "delivered"]


def test_no_session_bus_is_named_and_the_command_still_delivers(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    out = tmp_path / "received.txt"
    write(repo, {"gitwarden.toml": f"[notifications]\ncommand = '{RECORD} > {out}'\n"})
    env = {"GITWARDEN_NO_NOTIFY": "", "PATH": _no_notify_send_path(tmp_path)}
    proc = run_gitwarden("notify", "--test", cwd=repo, env=env)
    assert proc.returncode == 1
    desktop, command = proc.stdout.splitlines()
    assert desktop.startswith("FAIL  desktop")
    assert "no session bus: DBUS_SESSION_BUS_ADDRESS is not set" in desktop
    assert "systemctl --user import-environment DBUS_SESSION_BUS_ADDRESS" in desktop
    assert command.split() == ["ok", "command", "delivered"]
    assert out.read_text().splitlines()[0] == "gitwarden: test notification"
    report = json.loads(run_gitwarden("notify", "--test", "--json", cwd=repo, env=env).stdout)
    assert [(c["channel"], c["ok"]) for c in report["channels"]] == [
        ("desktop", False), ("command", True)]
    gone = run_gitwarden("notify", "--test", cwd=repo, env={
        **env, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'ended-session'}"})
    assert "does not exist (the desktop session that owned it ended" in gone.stdout


def test_desktop_channel_delivers_over_a_real_session_bus(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    with session_bus(tmp_path / "bus") as (address, server):
        proc = run_gitwarden("notify", "--test", cwd=repo, env={
            "GITWARDEN_NO_NOTIFY": "", "DBUS_SESSION_BUS_ADDRESS": address,
            "PATH": _no_notify_send_path(tmp_path)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (note,) = server.wait_for(1, 10)
    assert note.summary == "gitwarden: test notification"
    assert proc.stdout.split() == ["ok", "desktop", "delivered"]


def test_a_failing_command_says_what_went_wrong(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    write(repo, {"gitwarden.toml": "[notifications]\ndesktop = false\n"
                                   "command = 'ntfy-not-installed publish gw'\n"})
    proc = run_gitwarden("notify", "--test", cwd=repo)
    assert proc.returncode == 1
    assert "command not found" in proc.stdout and "use an absolute path" in proc.stdout
    write(repo, {"gitwarden.toml": "[notifications]\ndesktop = false\n"
                                   "command = 'echo webhook refused >&2; exit 3'\n"})
    proc = run_gitwarden("notify", "--test", cwd=repo)
    assert "exited with 3: webhook refused" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert os.environ.get("GITWARDEN_NO_NOTIFY")  # the other tests' desktop stays quiet


def test_notify_without_test_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_gitwarden("notify", cwd=make_repo(tmp_path))
    assert proc.returncode == 2
    assert "gitwarden notify --test" in proc.stderr
