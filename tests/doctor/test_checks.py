"""`gitwarden doctor` finds each fault planted in a fixture repository, names its fix, and
`--fix` repairs the safe ones (and leaves the others, and everything a process holds, alone).
Run as the real CLI, with the environment of a user who hit each fault."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitwarden.git.repository import locate_repo
from gitwarden.integrations.service_files import render_systemd_unit
from gitwarden.store.db import Store
from gitwarden.store.events import list_events, record_event
from tests.helpers.gitrepo import RepoWithAgents, make_repo, make_repo_with_agents, run_gitwarden

OLD = time.time() - 600


def _doctor(repo: Path, *args: str, env: dict[str, str]) -> tuple[int, dict[str, list[Any]]]:
    proc = run_gitwarden("doctor", "--json", *args, cwd=repo, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    by_check: dict[str, list[Any]] = {}
    for finding in json.loads(proc.stdout)["findings"]:
        by_check.setdefault(finding["check"], []).append(finding)
    return proc.returncode, by_check


def _statuses(findings: dict[str, list[Any]], check: str) -> list[str]:
    return [f["status"] for f in findings[check]]


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Path]:
    """A lock file a live process has open (a git command at work), old as it may be."""
    path = tmp_path / "held"
    path.mkdir()
    lock = path / "held.lock"
    lock.write_text("")
    proc = subprocess.Popen([sys.executable, "-c", "import sys,time\n"
                             f"f = open({str(lock)!r}, 'a')\nprint('open', flush=True)\n"
                             "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    os.utime(lock, (OLD, OLD))
    yield lock
    proc.kill()
    proc.wait()


def _plant(repo: RepoWithAgents, hermetic: Path, held: Path) -> dict[str, Path]:
    """Every fault doctor knows, at once."""
    main = repo.main
    found = locate_repo(main)
    with Store.open(found) as store:
        record_event(store, "test.seed", "state exists")
    common = found.common_dir
    planted = {
        "index": common / "worktrees" / "alpha" / "index.lock",
        "ref": common / "refs" / "gitwarden" / "checkpoints" / "alpha.lock",
        "young": common / "worktrees" / "beta" / "index.lock",
    }
    for name, path in planted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        if name != "young":
            os.utime(path, (OLD, OLD))
    # a git lock a live process holds: moved in place under refs/ (the scan looks there)
    held_here = common / "refs" / "heads" / "held.lock"
    os.link(held, held_here)
    planted["held"] = held_here
    state = found.state_dir
    shm = state / "state.db-shm"
    shm.touch()
    os.chmod(shm, 0o400)
    os.chmod(state, 0o755)
    planted["shm"] = shm
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(state / "daemon.sock"))
    stale.close()
    unit = hermetic / ".config" / "systemd" / "user" / "gitwarden@.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(render_systemd_unit(python="/usr/bin/python3.9"))
    planted["unit"] = unit
    return planted


def test_doctor_finds_every_planted_fault_and_fixes_the_safe_ones(
        tmp_path: Path, hermetic: Path, holder: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": "x\n"})
    planted = _plant(repo, hermetic, holder)
    env = {"PATH": "/usr/bin:/bin", "GITWARDEN_NO_NOTIFY": "", "GITWARDEN_WATCH_LIMIT": "100"}
    code, found = _doctor(repo.main, env=env)
    assert code == 1
    assert _statuses(found, "config") == ["ok"]
    assert _statuses(found, "path") == ["fail"]  # no gitwarden for the agents' shells
    assert "not on PATH" in found["path"][0]["message"]
    assert "no session bus" in found["notifications"][0]["message"]
    assert _statuses(found, "watch-limit") == ["warn"]
    assert "max_user_watches" in found["watch-limit"][0]["fix"]
    assert _statuses(found, "service-manager") == ["warn"]  # a unit, and no systemd --user
    assert "out of date" in found["service-file"][0]["message"]
    hooks = [f["message"] for f in found["hooks"]]
    assert any("git guards pre-commit, pre-push not installed" in m for m in hooks)
    assert any(m.startswith("alpha: the Claude Code hook is missing") for m in hooks)
    locks = {next(w for w in f["message"].split() if w.endswith(".lock")): f
             for f in found["lock-files"]}
    assert locks[str(planted["index"])]["status"] == "fail"
    assert locks[str(planted["ref"])]["status"] == "fail"
    assert str(planted["young"]) not in locks  # a fresh lock: git may be at work
    assert locks[str(planted["held"])]["status"] == "warn"  # held by a live process
    state = [f["message"] for f in found["state"]]
    assert any("open to other users (mode 755)" in m for m in state)
    assert any(f"{planted['shm']} is read-only" in m for m in state)
    assert "left from a daemon that is gone" in found["socket"][0]["message"]

    code, fixed = _doctor(repo.main, "--fix", env=env)
    assert not planted["index"].exists() and not planted["ref"].exists()
    assert planted["young"].exists() and planted["held"].exists()
    # repaired, then removed by SQLite when the check's connection closed
    assert not planted["shm"].exists() or stat.S_IMODE(planted["shm"].stat().st_mode) == 0o600
    assert stat.S_IMODE(locate_repo(repo.main).state_dir.stat().st_mode) == 0o700
    assert not (locate_repo(repo.main).state_dir / "daemon.sock").exists()
    assert "/usr/bin/python3.9" not in planted["unit"].read_text()
    with Store.open(locate_repo(repo.main)) as store:
        (fixed_event,) = list_events(store, kinds=["doctor.fixed"])
    assert f"removed {planted['index']}" in fixed_event.message
    for check in ("service-file", "hooks", "state", "socket"):
        assert _statuses(fixed, check) == ["ok"], fixed[check]
    assert [f["status"] for f in fixed["lock-files"]] == ["warn"]  # only the held one
    # what is not safe to change stays reported, with its fix
    assert _statuses(fixed, "path") == ["fail"] and code == 1
    assert _statuses(fixed, "watch-limit") == ["warn"]
    text = run_gitwarden("doctor", cwd=repo.main, env=env).stdout
    assert "fail  path" in text and "fix: add" in text


def test_invalid_config_is_a_failure_with_its_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "gitwarden.toml").write_text("[watch]\ndebounce = \"soon\"\n")
    code, found = _doctor(repo, env={})
    assert code == 1
    (config,) = found["config"]
    assert config["status"] == "fail" and "gitwarden.toml:2: watch.debounce" in config["message"]
    code, _ = _doctor(repo, "--fix", env={})
    assert code == 1  # never "fixed" by guessing
    assert "soon" in (repo / "gitwarden.toml").read_text()


def test_a_service_without_the_session_bus_is_found_and_imported(
        tmp_path: Path, hermetic: Path) -> None:
    """A stand-in systemctl (no systemd user instance runs here) whose manager environment
    lacks the bus; --fix imports it from the desktop session doctor runs in."""
    repo = make_repo(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n'
                         'if [ "$2" = show-environment ]; then echo PATH=/usr/bin; fi\n')
    systemctl.chmod(0o755)
    unit = hermetic / ".config" / "systemd" / "user" / "gitwarden@.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(render_systemd_unit())
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GITWARDEN_NO_NOTIFY": "",
           "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'bus'}"}
    (tmp_path / "bus").touch()
    _, found = _doctor(repo, env=env)
    assert any("service's environment has no DBUS_SESSION_BUS_ADDRESS" in f["message"]
               for f in found["notifications"])
    _doctor(repo, "--fix", env=env)
    assert "--user import-environment DBUS_SESSION_BUS_ADDRESS" in calls.read_text()


def test_hooks_from_before_the_hook_client_are_named_with_their_fix(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": "x\n"})
    installed = run_gitwarden("hooks", "install", "--claude", "--opencode", "--git",
                              cwd=repo.main)
    assert installed.returncode == 0, installed.stderr
    _, found = _doctor(repo.main, env={})
    assert _statuses(found, "hooks") == ["ok"], found["hooks"]
    # what an older gitwarden wrote: the CLI or the hook modules, run directly
    settings = repo.agents["alpha"] / ".claude" / "settings.local.json"
    data = json.loads(settings.read_text())
    for entries in data["hooks"].values():
        for entry in entries:
            entry["hooks"][0]["command"] = "gitwarden hook claude"
    settings.write_text(json.dumps(data))
    plugin = repo.agents["beta"] / ".opencode" / "plugins" / "gitwarden.js"
    plugin.write_text(plugin.read_text().replace("run_hook_client.py", "x").replace(
        '"-I", "-S"', '"-m", "gitwarden.integrations.opencode_hook"'))
    guard = locate_repo(repo.main).common_dir / "hooks" / "pre-commit"
    guard.write_text("#!/bin/sh\n# gitwarden guard: installed by `gitwarden hooks install "
                     "--git`\nexec gitwarden hook pre-commit \"$@\"\n")
    _, found = _doctor(repo.main, env={})
    messages = {f["message"]: f["fix"] for f in found["hooks"]}
    assert len(messages) == 3, messages
    claude = next(m for m in messages if m.startswith("alpha: claude hooks"))
    assert "(gitwarden hook claude) do not run the current hook client" in claude
    assert messages[claude].startswith("gitwarden hooks install --claude")
    opencode = next(m for m in messages if m.startswith("beta: opencode hooks"))
    assert messages[opencode].startswith("gitwarden hooks install --opencode")
    git_guard = next(m for m in messages if m.startswith("git guard pre-commit"))
    assert messages[git_guard].startswith("gitwarden hooks install --git")

    run_gitwarden("doctor", "--fix", cwd=repo.main)
    _, fixed = _doctor(repo.main, env={})
    assert _statuses(fixed, "hooks") == ["ok"], fixed["hooks"]
    assert "run_hook_client.py claude" in settings.read_text()
    assert "gitwarden hook claude" not in settings.read_text()
