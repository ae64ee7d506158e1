"""The daemon logs one line per event of severity warning or above, with the agent, the commit
and the command that undoes it; --json-log carries the same as fields. The service run uses
the rendered systemd unit under a test supervisor (no systemd user instance runs here; where
one does, `systemd-run --user` would start the same command line)."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path

import pytest

from gitwarden.daemon.action_log import line_of, log_event, undo_of
from gitwarden.daemon.logs import JsonFormatter
from gitwarden.integrations.service_files import render_systemd_unit
from gitwarden.store.events import Event, EventKind
from tests.helpers.daemonproc import wait_until
from tests.helpers.gitrepo import git, write
from tests.helpers.health_repo import setup_repo
from tests.helpers.unit_supervisor import start_unit


def _event(kind: EventKind, severity: str = "warning", **data: object) -> Event:
    return Event(id=7, ts=0.0, kind=kind, severity=severity, agent="alpha", path=None,
                 message=f"{kind} happened", data=data)


def test_each_action_names_its_undo_command() -> None:
    paused = _event(EventKind.AGENT_PAUSED)
    assert line_of(paused) == ("agent.paused agent=alpha agent.paused happened; "
                               "undo: gitwarden resume alpha")
    revert = _event(EventKind.HEALTH_REVERT, culprit="abcdef1234567890",
                    undo="gitwarden rollback alpha --undo --yes")
    assert "commit=abcdef1234 " in line_of(revert)
    assert undo_of(revert) == "gitwarden rollback alpha --undo --yes"
    rollback = _event(EventKind.ROLLBACK_APPLIED, target="0123456789ab")
    assert undo_of(rollback) == "gitwarden rollback alpha --undo --yes"
    assert undo_of(_event(EventKind.KILLSWITCH_ENGAGED, "error")) == "gitwarden resume --all"
    assert undo_of(_event(EventKind.OVERLAP_OPENED)) is None
    escaped = Event(id=1, ts=0.0, kind="violation.scope", severity="warning", agent="alpha",
                    path=None, message="wrote \x1b[31mred\x1b[0m", data={})
    assert "\x1b" not in line_of(escaped)


def test_json_log_lines_carry_the_fields(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gitwarden.actions"):
        log_event(_event(EventKind.HEALTH_CULPRIT, culprit="abcdef1234567890",
                         policy="pause"))
        log_event(_event(EventKind.CHECKPOINT_CREATED, "info"))
    (record,) = caplog.records
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "warning"
    assert entry["kind"] == "health.culprit"
    assert entry["agent"] == "alpha"
    assert entry["commit"] == "abcdef1234567890"
    assert entry["undo"] == "gitwarden resume alpha"
    assert entry["message"].startswith("health.culprit agent=alpha commit=abcdef1234 ")


def test_service_log_shows_culprit_pause_and_revert(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert")
    alpha = repo.agents["alpha"]
    unit = render_systemd_unit()
    log_path = tmp_path / "journal.log"
    daemon = start_unit(unit, repo.main, log_path)

    def journal() -> str:
        assert daemon.poll() is None, log_path.read_text()
        return log_path.read_text("utf-8", "replace")

    try:
        wait_until(lambda: "gitwarden daemon ready" in journal(), 60, "service did not start")
        write(alpha, {"status.txt": "broken\n"})
        git(alpha, "commit", "-q", "-am", "break the build")
        bad = git(alpha, "rev-parse", "HEAD").strip()
        wait_until(lambda: "health.revert " in journal(), 60, f"no revert line:\n{journal()}")
        text = journal()
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=30)
    assert code == 0, log_path.read_text()
    lines = text.splitlines()

    def line(prefix: str) -> str:
        found = [entry for entry in lines if f" {prefix} " in entry]
        assert len(found) == 1, f"{prefix}: {found}\n{text}"
        return found[0]

    assert f"agent=alpha commit={bad[:10]}" in line("health.culprit")
    assert "undo: gitwarden resume alpha" in line("health.culprit")
    assert "undo: gitwarden resume alpha" in line("agent.paused")
    revert = line("health.revert")
    assert f"agent=alpha commit={bad[:10]}" in revert
    assert "undo: gitwarden rollback alpha --undo --yes" in revert
    assert "Traceback" not in text
