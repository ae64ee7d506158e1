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
    cached: bool = False  # every answer came from recorded runs of the same tree: none ran
    cached_from: dict[str, Any] | None = None  # the recorded run reused (commit, agent, time)

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "commit": self.commit, "verdict": self.verdict,
                "check": self.check, "culprit": self.culprit,
                "candidates": list(self.candidates), "runs": self.runs,
                "gate_runs": self.gate_runs, "verify_runs": self.verify_runs,
                "log": self.log_path, "action": self.action,
                "detail": self.detail, "revert_commit": self.revert_commit,
                "cached": self.cached, "cached_from": self.cached_from}


@dataclass
class IntegrationHealth:
    """The base merged with the agents: `partial` when it passes with some agents left out
    (conflicts, paused), since then it says nothing about those agents."""

    verdict: str  # pass | partial | broken | flaky | none
    check: str | None = None
    agents: tuple[str, ...] = ()  # agents merged in
    culprits: tuple[str, ...] = ()  # the smallest failing combination found
    left_out: dict[str, str] = field(default_factory=dict)  # agent -> why (conflict, ...)
    runs: int = 0
    log_path: str | None = None
    cached: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "check": self.check, "agents": list(self.agents),
                "merged": list(self.agents), "culprits": list(self.culprits),
                "left_out": dict(self.left_out),
                "left_out_list": [{"agent": name, "why": why}
                                  for name, why in sorted(self.left_out.items())],
                "runs": self.runs, "log": self.log_path, "cached": self.cached}


def status_fields(store: Store, agent_name: str,
                  workspace: Workspace | None = None) -> dict[str, Any]:
    """Health and pause fields for `gitwarden status`. With the workspace: only the verdicts
    of the agent's current HEAD count, for the checks configured now; a check without one is
    `running` or `pending` (the daemon is on it) or `stale` (only an older commit has one),
    and the older verdict is shown as `previous`, never as the HEAD's."""
    head = _agent_head(workspace, agent_name)
    if head is None:
        verdicts = current_verdicts(store, agent_name, workspace)
        results: dict[str, Any] = {
            v.check: {"verdict": v.verdict, "commit": v.commit, "time": v.ts, "stale": False,
                      "cached": v.cached} for v in verdicts}
        culprit = next((v.culprit for v in verdicts if v.verdict == "broken"), None)
    else:
        results, culprit = _results_at_head(store, agent_name, head, workspace)
    fields: dict[str, Any] = {
        "health": _worst([str(r["verdict"]) for r in results.values()]),
        "health_checks": {check: r["verdict"] for check, r in results.items()},
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


def _results_at_head(store: Store, agent_name: str, head: str,
                     workspace: Workspace | None) -> tuple[dict[str, Any], str | None]:
    at_head = {v.check: v for v in health_state.verdicts_at(store, agent_name, head)}
    older = {v.check: v for v in health_state.latest_verdicts(store, agent_name)}
    configured = ([c.name for c in workspace.config.health.checks] if workspace is not None
                  else sorted(set(at_head) | set(older)))
    underway = health_state.progress(store, agent_name)
    state = "stale"
    if underway is not None and underway.commit == head and underway.alive:
        state = underway.state
    results: dict[str, Any] = {}
    for check in configured:
        verdict = at_head.get(check)
        if verdict is not None:
            results[check] = {"verdict": verdict.verdict, "commit": head, "time": verdict.ts,
                              "stale": False, "cached": verdict.cached}
            continue
        previous = older.get(check)
        if previous is None and state == "stale":
            continue  # never checked: nothing to say
        results[check] = {"verdict": state, "commit": head, "time": None, "stale": True,
                          "cached": False,
                          "previous": {"verdict": previous.verdict, "commit": previous.commit,
                                       "time": previous.ts} if previous else None}
    culprit = next((v.culprit for v in at_head.values() if v.verdict == "broken"
                    and v.check in configured), None)
    return results, culprit


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
    for level in ("broken", "error", "base-broken", "preexisting", "flaky", "skip", "running",
                  "pending", "stale", "pass"):
        if level in verdicts:
            return level
    return "unknown"
