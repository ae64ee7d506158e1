"""`gitwarden status`: every agent, what it changed, and which files overlap."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.output import for_terminal, paint, print_json, short, table
from gitwarden.views.status import collect_status


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "status", "show agents, their changed files and overlaps",
        """\
  gitwarden status                 table of all agents
  gitwarden status payments        one agent, with its changed files
  gitwarden status --json | jq '.agents[].changed'
""")
    parser.add_argument("agent", nargs="?", help="show only this agent")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    workspace = Workspace.load(args.cwd)
    report = collect_status(workspace)
    if args.agent:
        workspace.agent(args.agent)
        report["agents"] = [a for a in report["agents"] if a["name"] == args.agent]
    if args.json:
        print_json(report)
    else:
        print(render(report, detailed=bool(args.agent)))
    return 0


def _t(text: str) -> str:
    """One line of text from an agent or a file name, safe for the terminal."""
    return for_terminal(str(text), newlines=False)


def render(report: dict[str, Any], *, detailed: bool = False) -> str:
    base = report["base"]
    at = short(base['commit']) if base['commit'] else "no commit yet"
    lines = [f"base {_t(base['branch'])} at {at}"]
    daemon = report.get("daemon") or {}
    if daemon.get("running"):
        lines[0] += f"; daemon running (pid {daemon['pid']})"
    else:
        lines[0] += "; no daemon (start one with `gitwarden watch` or `gitwarden service install`)"
    switch = report.get("kill_switch")
    if switch:
        lines.append(paint(f"KILL SWITCH ENGAGED ({_t(switch['reason'])}): agents stay paused and "
                           "automatic actions are held until `gitwarden resume --all`", "red"))
    agents = report["agents"]
    if not agents:
        lines.append("no agents: add one with `gitwarden agent add NAME` "
                     "or `git worktree add`")
        return "\n".join(lines)
    rows = []
    for agent in agents:
        state = agent["state"]
        if state != "ok":
            state = paint(state, "red" if state in ("missing", "error", "paused") else "yellow")
        rows.append([
            agent["name"],
            _t(agent["branch"] or "(detached)"),
            short(agent["head"]),
            state,
            f"+{agent['ahead']}/-{agent['behind']}",
            str(len(agent["changed"])),
            str(len(agent["overlaps"])),
            agent.get("health", "unknown"),
        ])
    lines.append("")
    lines.append(table(["agent", "branch", "head", "state", "ahead/behind", "changed",
                        "overlaps", "health"], rows))
    if detailed:
        for agent in agents:
            if agent.get("pause_reason"):
                lines.append(f"\n{agent['name']} is paused: {_t(agent['pause_reason'])}")
            if agent.get("culprit"):
                lines.append(f"\n{agent['name']} broke the build at {short(agent['culprit'])}")
            if agent.get("locks"):
                lines.append(f"\nlocks held by {agent['name']}: {_t(', '.join(agent['locks']))}")
            if agent.get("error"):
                lines.append(f"\n{agent['name']}: {_t(agent['error'])}")
            if agent["changed"]:
                lines.append(f"\nchanged by {agent['name']}:")
                lines.extend(f"  {_t(path)}" for path in agent["changed"])
    overlaps = report["overlaps"]
    if overlaps:
        lines.append("")
        lines.append(paint(f"{len(overlaps)} overlapping file(s):", "yellow"))
        for item in overlaps:
            lines.append(f"  {_t(item['path'])}  ({', '.join(item['agents'])})")
    return "\n".join(lines)
