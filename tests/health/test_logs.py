"""Health log retention: `[health] keep_logs` (count and age), applied by `gitwarden prune`
and by the daemon."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.health import service as health_service
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import run_gitwarden, write
from tests.helpers.health_repo import agent_commits, events, setup_repo


def _logs(main: Path) -> list[Path]:
    return sorted((Workspace.load(main).repo.state_dir / "health-logs").glob("*.log"))


def test_prune_keeps_the_newest_logs_and_drops_old_ones(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, extra='keep_logs = { count = 3, age = "1h" }')
    alpha = repo.agents["alpha"]
    previous = None
    for number in range(6):
        (commit,) = agent_commits(alpha, {f"n{number}.txt": "x\n"})
        health_service.on_agent_commit(Workspace.load(repo.main), "alpha", previous, commit)
        previous = commit
    logs = _logs(repo.main)
    assert len(logs) == 6  # one per commit
    for number, path in enumerate(logs):  # oldest first, a second apart
        os.utime(path, (time.time() - 100 + number, time.time() - 100 + number))
    dry = json.loads(run_gitwarden("prune", "--dry-run", "--json", cwd=repo.main).stdout)
    assert dry["health_logs"] == {"kept": 3, "dropped": 3}
    assert len(_logs(repo.main)) == 6
    proc = run_gitwarden("prune", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert "health logs: kept 3, dropped 3" in proc.stdout
    assert _logs(repo.main) == logs[-3:]
    # an old log goes even when the count allows it, unless a current verdict shows it
    shown = json.loads(run_gitwarden("health", "--json", cwd=repo.main).stdout)
    current = Path(shown["results"][0]["log"])
    for path in _logs(repo.main):
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    assert run_gitwarden("prune", cwd=repo.main).returncode == 0
    assert _logs(repo.main) == [current]


def test_keep_logs_is_checked(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, extra="keep_logs = { count = 3, days = 1 }")
    proc = run_gitwarden("health", cwd=repo.main)
    assert proc.returncode == 2 and "keep_logs" in proc.stderr and "gitwarden.toml:" in \
        proc.stderr
    repo2 = setup_repo(tmp_path / "two", extra="keep_logs = 0")
    assert run_gitwarden("health", cwd=repo2.main).returncode == 2


def test_the_daemon_applies_log_retention(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, extra="keep_logs = 2")
    folder = Workspace.load(repo.main).repo.ensure_state_dir() / "health-logs"
    folder.mkdir(mode=0o700, exist_ok=True)
    for number in range(5):
        write(folder, {f"2020010{number}T000000-old-test.log": "old\n"})
    daemon = DaemonProcess(repo.main)
    try:
        (event,) = wait_until(lambda: events(repo, "health.logs-pruned"), 30,
                              "health logs not pruned at start", daemon)
        assert event["data"]["dropped"] >= 3  # type: ignore[index]
        assert len([p for p in _logs(repo.main) if "-old-" in p.name]) <= 2
    finally:
        assert daemon.stop() == 0
