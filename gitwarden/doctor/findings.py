"""What a check finds, and running every check (and the safe fixes) in order.

A check never changes anything; a fix is a separate callable attached to a finding, applied
only with --fix, and only when changing it cannot lose anyone's work (removing a lock file no
process holds, a file mode, a service file gitwarden wrote, a hook gitwarden installs).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitwarden.agents.model import Agent
from gitwarden.agents.workspace import Workspace
from gitwarden.config import Config, load_config
from gitwarden.errors import ConfigError, GitwardenError
from gitwarden.git.repository import Repo, locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Finding:
    check: str
    status: str
    message: str
    fix: str | None = None  # what the user can do
    apply: Callable[[], str] | None = field(default=None, repr=False)  # a safe fix
    fixed: str | None = None  # what --fix did

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message,
                "fix": self.fix, "fixable": self.apply is not None, "fixed": self.fixed}


@dataclass
class Setup:
    """What the checks look at; config and agents are None when they cannot be read."""

    repo: Repo
    config: Config | None
    config_error: str | None
    agents: list[Agent] | None


Check = Callable[[Setup], list[Finding]]


def load_setup(start: Path | str | None) -> Setup:
    repo = locate_repo(start)
    try:
        config: Config | None = load_config(repo.config_path)
        error = None
    except ConfigError as exc:
        config, error = None, exc.message
    agents = None
    if config is not None:
        try:
            agents = Workspace(repo=repo, config=config).agents
        except GitwardenError:
            agents = None
    return Setup(repo=repo, config=config, config_error=error, agents=agents)


def run_checks(setup: Setup, checks: Sequence[Check], *, fix: bool = False) -> list[Finding]:
    """Every check's findings; with `fix`, the safe fixes are applied and their check is run
    again so that the report shows the state after the fix."""
    findings: list[Finding] = []
    applied: list[str] = []
    for check in checks:
        found = _guarded(check, setup)
        if fix and any(f.apply is not None and f.status != OK for f in found):
            done = []
            for finding in found:
                if finding.apply is not None and finding.status != OK:
                    try:
                        done.append(finding.apply())
                    except (GitwardenError, OSError) as exc:
                        finding.fixed = f"the fix failed: {exc}"
            again = _guarded(check, setup)
            for finding in again:
                finding.fixed = "; ".join(done) or None
            found = again if done else found
            applied += done
        findings.extend(found)
    if applied:
        _record(setup, applied)
    return findings


def _record(setup: Setup, applied: list[str]) -> None:
    """What --fix changed goes into the event log like any other action of gitwarden."""
    if not setup.repo.state_dir.is_dir():
        return
    try:
        with Store.open(setup.repo) as store:
            record_event(store, EventKind.DOCTOR_FIXED, "doctor --fix: " + "; ".join(applied),
                         data={"fixes": applied})
    except (GitwardenError, OSError, sqlite3.Error):
        return  # the report says what was fixed; an unwritable state is its own finding


def _guarded(check: Check, setup: Setup) -> list[Finding]:
    name = getattr(check, "__name__", "check").removeprefix("check_").replace("_", "-")
    try:
        return check(setup)
    except Exception as exc:  # one broken check must not hide the others
        return [Finding(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}")]

