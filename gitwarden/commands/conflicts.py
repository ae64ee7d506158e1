"""`gitwarden conflicts`: files changed by several agents, and whether they will conflict."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.output import for_terminal, paint, print_json, table
from gitwarden.overlaps.report import collect_conflicts
from gitwarden.units import format_duration


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "conflicts",
        "show overlapping files with their predicted merge result and age",
        """\
  gitwarden conflicts              overlaps: conflict or clean-merge, agents, age
  gitwarden conflicts --json       for scripts (works with or without the daemon)
""")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    workspace = Workspace.load(args.cwd)
    report = collect_conflicts(workspace)
    if args.json:
        print_json(report)
        return 0
    overlaps = report["overlaps"]
    _print_base_conflicts(report["base_conflicts"])
    if not overlaps:
        print("no overlapping files")
        return 0
    rows = []
    for item in overlaps:
        kind = item["classification"] or "?"
        kind = paint(kind, "red" if kind == "conflict" else "green")
        hunks = "; ".join(_hunk_text(h) for h in item["hunks"][:3])
        if len(item["hunks"]) > 3:
            hunks += f"; +{len(item['hunks']) - 3} more"
        age = format_duration(item["age"]) if item["age"] is not None else "-"
        rows.append([for_terminal(item["path"], newlines=False), kind,
                     ", ".join(item["agents"]), item["first"] or "-", age, hunks])
    print(table(["path", "result", "agents", "first", "age", "conflicting lines"], rows))
    if report["source"] == "git":
        print("\n(no daemon running: computed from git just now)")
    return 0


def _hunk_text(hunk: dict[str, Any]) -> str:
    """Every agent's conflicting lines of one hunk: "alpha 3-3, beta 3-4"."""
    return ", ".join(f"{agent} {hunk[agent][0]}-{hunk[agent][1]}" for agent in hunk["agents"])


def _print_base_conflicts(conflicts: list[dict[str, Any]]) -> None:
    if not conflicts:
        return
    rows = []
    for item in conflicts:
        name = item["agent"]
        lines = "; ".join(f"base {h['base'][0]}-{h['base'][1]}, {name} {h[name][0]}-{h[name][1]}"
                          for h in item["hunks"][:3]) or (item["reason"] or "")
        rows.append([item["path"], paint("conflict", "red"), f"{name} vs {item['base']}",
                     f"{item['behind']} behind", lines])
    print(table(["path", "result", "agent vs base", "behind", "conflicting lines"], rows))
    print("(bring an agent up to date with `gitwarden sync AGENT`)\n")
