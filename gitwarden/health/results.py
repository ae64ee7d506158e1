"""What health checks found, as records and as the health fields of `gitwarden status`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitwarden.coordination.pauses import pause_info
from gitwarden.health import table as health_state
from gitwarden.store.db import Store

if TYPE_CHECKING:
    from gitwarden.agents.workspace import Workspace


INTEGRATION = "integration"


@dataclass
class AgentHealth:
    """What one health pass found for one agent."""

    agent: str
    commit: str | None
    verdict: str  # pass | skip | flaky | broken | none (no checks / nothing new)
    check: str | None = None
    culprit: str | None = None
    candidates: tuple[str, ...] = ()
    runs: int = 0
    gate_runs: int = 0
    log_path: str | None = None
    action: str | None = None
    detail: str = ""
    revert_commit: str | None = None
    verify_runs: int = 0  # runs on the base and the clean point before blaming the agent

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "commit": self.commit, "verdict": self.verdict,
                "check": self.check, "culprit": self.culprit,
                "candidates": list(self.candidates), "runs": self.runs,
                "gate_runs": self.gate_runs, "verify_runs": self.verify_runs,
                "log": self.log_path, "action": self.action,
                "detail": self.detail, "revert_commit": self.revert_commit}


@dataclass
class IntegrationHealth:
    verdict: str  # pass | broken | flaky | none
    check: str | None = None
    agents: tuple[str, ...] = ()  # agents merged in
    culprits: tuple[str, ...] = ()  # the smallest failing combination found
    left_out: dict[str, str] = field(default_factory=dict)  # agent -> why (conflict, ...)
    runs: int = 0
    log_path: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "check": self.check, "agents": list(self.agents),
                "culprits": list(self.culprits), "left_out": self.left_out,
                "runs": self.runs, "log": self.log_path}


def status_fields(store: Store, agent_name: str,
                  workspace: Workspace | None = None) -> dict[str, Any]:
    """Health and pause fields for `gitwarden status`. With the workspace, only the checks
    configured now count, and each result says which commit it is for (`stale`: not the
    agent's current HEAD)."""
    verdicts = current_verdicts(store, agent_name, workspace)
    head = _agent_head(workspace, agent_name)
    worst = _worst([v.verdict for v in verdicts])
    culprit = next((v.culprit for v in verdicts if v.verdict == "broken"), None)
    results = {v.check: {"verdict": v.verdict, "commit": v.commit, "time": v.ts,
                         "stale": head is not None and v.commit != head} for v in verdicts}
    fields: dict[str, Any] = {
        "health": worst,
        "health_checks": {v.check: v.verdict for v in verdicts},
        "health_results": results,
        "health_stale": any(r["stale"] for r in results.values()),
        "culprit": culprit,
        "paused": False,
        "pause_reason": None,
    }
    info = pause_info(store, agent_name)
    if info is not None:
        fields["paused"] = True
        fields["pause_reason"] = info.reason
    return fields


def current_verdicts(store: Store, agent_name: str | None,
                     workspace: Workspace | None) -> list[health_state.Verdict]:
    """The newest verdict per check, leaving out checks no longer configured."""
    verdicts = health_state.latest_verdicts(store, agent_name)
    if workspace is None:
        return verdicts
    configured = {check.name for check in workspace.config.health.checks}
    return [v for v in verdicts if v.check in configured]


def _agent_head(workspace: Workspace | None, agent_name: str) -> str | None:
    if workspace is None:
        return None
    agent = next((a for a in workspace.agents if a.name == agent_name), None)
    return agent.head if agent is not None else None


def _worst(verdicts: Sequence[str]) -> str:
    for level in ("broken", "base-broken", "preexisting", "flaky", "skip", "pass"):
        if level in verdicts:
            return level
    return "unknown"
