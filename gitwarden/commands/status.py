"""`gitwarden status`: every agent, what it changed, and which files overlap."""

from __future__ import annotations

import argparse
import shlex
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
        report["overlaps"] = [o for o in report["overlaps"] if args.agent in o["agents"]]
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
            _base_cell(agent.get("base")),
            agent.get("health", "unknown"),
        ])
    lines.append("")
    lines.append(table(["agent", "branch", "head", "state", "ahead/behind", "changed",
                        "overlaps", "base", "health"], rows))
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
            lines.extend(_base_lines(agent))
            if agent["changed"]:
                lines.append(f"\nchanged by {agent['name']}:")
                lines.extend(f"  {_t(path)}" for path in agent["changed"])
    if report.get("remote"):
        from gitwarden.remote.view import render_machines  # lazy: only with [remote]

        lines.append("")
        lines.extend(render_machines(report["remote"]))
    overlaps = report["overlaps"]
    if overlaps:
        lines.append("")
        lines.append(paint(f"{len(overlaps)} overlapping file(s):", "yellow"))
        for item in overlaps:
            lines.append(f"  {_t(item['path'])}  ({', '.join(item['agents'])})")
    return "\n".join(lines)


def _base_cell(base: dict[str, Any] | None) -> str:
    """"ok", "3 behind", "3 behind, conflict", "3 behind, rebase conflict"."""
    if not base:
        return "-"
    if base["behind"] == 0:
        return "ok"
    words = f"{base['behind']} behind"
    if base["conflict"]:
        return paint(f"{words}, conflict", "red")
    if base["rebase"] in ("conflict", "blocked"):
        return paint(f"{words}, rebase {base['rebase']}", "yellow")
    return words


def _base_lines(agent: dict[str, Any]) -> list[str]:
    base = agent.get("base")
    if not base or not base["behind"]:
        return []
    name = agent["name"]
    lines = [f"\n{name} is {base['behind']} commit(s) behind the base; rebase: {base['rebase']}"]
    for conflict in base["conflicts"]:
        ranges = "; ".join(f"base {h['base'][0]}-{h['base'][1]}, {name} "
                           f"{h[name][0]}-{h[name][1]}" for h in conflict["hunks"][:3])
        lines.append(f"  conflicts with the base: {conflict['path']}"
                     + (f" ({ranges})" if ranges else ""))
    if not base["conflict"] and base["rebase"] == "clean":
        lines.append(f"  bring it up to date: gitwarden sync {shlex.quote(name)}")
    return lines
