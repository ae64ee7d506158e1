"""`gitwarden health`: last health results per agent and check; `--run` checks now."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.errors import UsageError
from gitwarden.health.results import INTEGRATION, status_fields
from gitwarden.health.service import run_health
from gitwarden.health.table import latest_verdicts
from gitwarden.output import paint, print_json, short, table
from gitwarden.store.db import Store
from gitwarden.views.context_refresh import refresh_context_files


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "health", "show health check results; --run checks agents now",
        """\
  gitwarden health                   last result per agent and check
  gitwarden health payments --run    check payments' HEAD now (confirm, bisect, act by policy)
  gitwarden health --run --integration   also check the base merged with every agent
  gitwarden health --json | jq '.results[] | select(.verdict == "broken")'
""")
    parser.add_argument("agent", nargs="?", help="only this agent")
    parser.add_argument("--run", action="store_true",
                        help="run the checks now on each agent's HEAD (in a scratch worktree)")
    parser.add_argument("--integration", action="store_true",
                        help="with --run: also check the base merged with every agent head")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    if args.integration and not args.run:
        raise UsageError("--integration needs --run")
    workspace = Workspace.load(args.cwd)
    agents = workspace.select([args.agent] if args.agent else None)
    with Store.open(workspace.repo) as store:
        if args.run:
            if not workspace.config.health.checks:
                raise UsageError("no health checks configured: add [health.checks] to "
                                 f"{workspace.repo.config_path}")

            ran = run_health(workspace, agents, store=store,
                             integration=True if args.integration else None)
            refresh_context_files(workspace, store)  # a culprit may have been paused
            return _print_run(ran, as_json=args.json)
        return _print_results(workspace, store, [a.name for a in agents], as_json=args.json)


def _print_results(workspace: Any, store: Any, names: list[str], *, as_json: bool) -> int:

    configured = {check.name for check in workspace.config.health.checks}
    everything = [v for v in latest_verdicts(store) if v.check in configured]
    heads = {agent.name: agent.head for agent in workspace.agents}
    integration = _integration_summary([v for v in everything if v.agent == INTEGRATION])
    shown_integration = integration is not None and (
        len(names) > 1 or bool(set(integration["agents"]) & set(names)))
    verdicts = [v for v in everything
                if v.agent in names or (v.agent == INTEGRATION and shown_integration)]
    if as_json:
        print_json({"checks": [c.name for c in workspace.config.health.checks],
                    "results": [_result_json(v, heads) for v in verdicts],
                    "agents": {name: status_fields(store, name, workspace) for name in names},
                    "integration": integration if shown_integration else None})
        return 0
    if not workspace.config.health.checks:
        print("no health checks configured (add [health.checks] to gitwarden.toml)")
    if not verdicts:
        print("no health results yet: run `gitwarden health --run`")
        return 0
    colors = {"pass": "green", "broken": "red", "flaky": "yellow", "skip": "yellow",
              "base-broken": "yellow", "preexisting": "yellow"}
    rows = [[v.agent, v.check, paint(v.verdict, colors.get(v.verdict, "dim")),
             short(v.commit) + (" (old)" if _stale(v, heads) else ""),
             short(v.culprit) if v.agent != INTEGRATION else (v.culprit or "-"),
             v.action or "-", str(v.runs), v.log_path or "-"] for v in verdicts]
    print(table(["agent", "check", "result", "commit", "culprit", "action", "runs", "log"],
                rows))
    return 0


def _stale(verdict: Any, heads: dict[str, str | None]) -> bool:
    """A result for another commit than the agent's current HEAD."""
    head = heads.get(verdict.agent)
    return head is not None and verdict.commit != head


def _result_json(verdict: Any, heads: dict[str, str | None]) -> dict[str, Any]:
    found: dict[str, Any] = verdict.as_json()
    if verdict.agent in heads:
        found["stale"] = _stale(verdict, heads)
    return found


def _integration_summary(verdicts: list[Any]) -> dict[str, Any] | None:
    """The newest integration result: verdict, failing check, the agents whose combination
    fails (`agents`) and the agents that were merged (`merged`)."""
    if not verdicts:
        return None
    newest = max(verdicts, key=lambda v: v.id)
    failing = [v for v in verdicts if v.commit == newest.commit and v.verdict != "pass"]
    shown = failing[0] if failing else newest
    return {"verdict": shown.verdict, "check": shown.check, "time": shown.ts,
            "commit": shown.commit, "agents": list(shown.candidates),
            "merged": list(shown.agents), "runs": shown.runs, "log": shown.log_path}


def _print_run(report: dict[str, Any], *, as_json: bool) -> int:

    results = report["agents"]
    integration = report.get("integration")
    failing = ("broken", "base-broken", "preexisting")
    broken = any(r["verdict"] in failing for r in results) or \
        bool(integration and integration["verdict"] == "broken")
    if as_json:
        print_json(report)
        return 1 if broken else 0
    for r in results:
        line = f"{r['agent']}: {r['verdict']}"
        if r["check"] and r["verdict"] != "pass":
            line += f" ({r['check']})"
        if r["culprit"]:
            line += f", culprit {r['culprit'][:10]}"
        if r["action"]:
            line += f", action {r['action']}"
        if r["detail"]:
            line += f" - {r['detail']}"
        if r["log"] and r["verdict"] != "pass":
            line += f"\n  log: {r['log']}"
        print(line)
    if integration:
        line = f"integration: {integration['verdict']}"
        if integration["culprits"]:
            line += f" - fails with {' + '.join(integration['culprits'])}"
        print(line)
    return 1 if broken else 0
