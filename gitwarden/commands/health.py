"""`gitwarden health`: last health results per agent and check; `--run` checks now."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.errors import UsageError
from gitwarden.health.results import INTEGRATION, status_fields
from gitwarden.health.service import run_health
from gitwarden.health.table import latest_verdicts, verdicts_at
from gitwarden.output import paint, print_json, short, table
from gitwarden.store.db import Store
from gitwarden.views.context_refresh import refresh_context_files


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "health", "show health check results; --run checks agents now",
        """\
  gitwarden health                   result of each agent's HEAD per check (or running,
                                     pending, stale: only an older commit was checked)
  gitwarden health payments --run    check payments' HEAD now (confirm, bisect, act by policy);
                                     a tree already checked is not run again (cached)
  gitwarden health --run --integration   also check the base merged with every agent
                                     (partial: some agents left out, and why)
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
        len(names) > 1 or bool(set(integration["agents"]) & set(names)
                               or set(integration["left_out"]) & set(names)))
    fields = {name: status_fields(store, name, workspace) for name in names}
    results = [entry for name in names for entry in _head_results(store, name, heads.get(name),
                                                                   fields[name])]
    if shown_integration:
        results += [v.as_json() for v in everything if v.agent == INTEGRATION]
    if as_json:
        print_json({"checks": [c.name for c in workspace.config.health.checks],
                    "results": results, "agents": fields,
                    "integration": integration if shown_integration else None})
        return 0
    if not workspace.config.health.checks:
        print("no health checks configured (add [health.checks] to gitwarden.toml)")
    if not results and not shown_integration:
        print("no health results yet: run `gitwarden health --run`")
        return 0
    colors = {"pass": "green", "broken": "red", "error": "red", "flaky": "yellow",
              "skip": "yellow", "base-broken": "yellow", "preexisting": "yellow",
              "partial": "yellow", "running": "cyan", "pending": "cyan"}
    rows = [[r["agent"], r["check"], paint(r["verdict"], colors.get(r["verdict"], "dim")),
             short(r["commit"]),
             (r.get("culprit") or "-") if r["agent"] == INTEGRATION else short(r.get("culprit")),
             r.get("action") or "-", str(r.get("runs", 0)),
             _left_out_note(r) if r["agent"] == INTEGRATION else _note(r),
             r.get("log") or "-"] for r in results]
    print(table(["agent", "check", "result", "commit", "culprit", "action", "runs", "note",
                 "log"], rows))
    return 0


def _head_results(store: Any, agent: str, head: str | None,
                  fields: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per check: the verdict of the agent's HEAD, or its state (running, pending,
    stale) with the older commit's verdict as `previous`."""
    at_head = {v.check: v for v in verdicts_at(store, agent, head)} if head else {}
    found = []
    for check, shown in fields["health_results"].items():
        verdict = at_head.get(check)
        if verdict is not None:
            entry: dict[str, Any] = {**verdict.as_json(), "stale": False}
        else:
            entry = {"agent": agent, "check": check, "commit": shown["commit"],
                     "verdict": shown["verdict"], "stale": shown["stale"], "cached": False,
                     "previous": shown.get("previous")}
        found.append(entry)
    return found


def _note(result: dict[str, Any]) -> str:
    previous = result.get("previous")
    if previous:
        return f"previous: {previous['verdict']} at {short(previous['commit'])}"
    if result.get("cached"):
        return "cached (same tree checked before)"
    return "-"


def _left_out_note(integration: dict[str, Any]) -> str:
    left_out = integration.get("left_out") or {}
    if not left_out:
        return "-"
    return "left out: " + "; ".join(f"{name} ({why})" for name, why in sorted(left_out.items()))


def _integration_summary(verdicts: list[Any]) -> dict[str, Any] | None:
    """The newest integration result: verdict, failing check, the agents whose combination
    fails (`agents`) and the agents that were merged (`merged`)."""
    if not verdicts:
        return None
    newest = max(verdicts, key=lambda v: v.id)
    failing = [v for v in verdicts
               if v.commit == newest.commit and v.verdict not in ("pass", "partial")]
    shown = failing[0] if failing else newest
    return {"verdict": shown.verdict, "check": shown.check, "time": shown.ts,
            "commit": shown.commit, "agents": list(shown.candidates),
            "merged": list(shown.agents), "left_out": dict(shown.left_out),
            "runs": shown.runs, "log": shown.log_path, "cached": shown.cached}


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
        if r.get("cached"):
            line += ", cached (same tree checked before)"
        if r["detail"]:
            line += f" - {r['detail']}"
        if r["log"] and r["verdict"] != "pass":
            line += f"\n  log: {r['log']}"
        print(line)
    if integration:
        line = f"integration: {integration['verdict']}"
        if integration["culprits"]:
            line += f" - fails with {' + '.join(integration['culprits'])}"
        if integration["agents"]:
            line += f"\n  merged: {', '.join(integration['agents'])}"
        for name, why in sorted(integration["left_out"].items()):
            line += f"\n  left out: {name} ({why})"
        print(line)
    return 1 if broken else 0
