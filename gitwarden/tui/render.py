"""The pictures of `gitwarden top` as rich Text: the overlap matrix, activity sparklines, the
agent detail. Names and paths come from agents: they go in as Text, never as markup."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from gitwarden.landing.queue import QueueEntry
from gitwarden.output import display_width, for_terminal, pad
from gitwarden.units import format_duration

SPARK_LEVELS = "▁▂▃▄▅▆▇█"
CONFLICT_MARK = "✗"
CLEAN_MARK = "✓"
UNKNOWN_MARK = "?"


def sparkline(counts: Sequence[int]) -> str:
    """One character per minute: the lowest bar for none, then scaled to the busiest minute."""
    peak = max(counts, default=0)
    if peak == 0:
        return SPARK_LEVELS[0] * len(counts)
    top = len(SPARK_LEVELS) - 1
    return "".join(SPARK_LEVELS[0] if n == 0 else SPARK_LEVELS[max(1, round(n / peak * top))]
                   for n in counts)


def pair_overlaps(overlaps: Sequence[dict[str, Any]], a: str, b: str) -> list[dict[str, Any]]:
    return [o for o in overlaps if a in o["agents"] and b in o["agents"]]


def matrix_cell(overlaps: Sequence[dict[str, Any]], a: str, b: str) -> tuple[str, str]:
    """The mark and style of one cell: ✗N (N files, one conflicts), ✓N (all merge cleanly)."""
    if a == b:
        return "·", "dim"
    shared = pair_overlaps(overlaps, a, b)
    if not shared:
        return "", ""
    kinds = {o.get("classification") for o in shared}
    if "conflict" in kinds:
        return f"{CONFLICT_MARK}{len(shared)}", "bold red"
    if kinds == {"clean-merge"}:
        return f"{CLEAN_MARK}{len(shared)}", "green"
    return f"{UNKNOWN_MARK}{len(shared)}", "yellow"


def overlap_matrix(names: Sequence[str], overlaps: Sequence[dict[str, Any]]) -> Text:
    """Agent by agent: the files both changed, marked conflict (✗) or clean merge (✓)."""
    if len(names) < 2:
        return Text("fewer than two agents: nothing can overlap", style="dim")
    width = max(max(display_width(n) for n in names), 4)
    text = Text(pad("", width) + "  ")
    for name in names:
        text.append(pad(name, width) + " ", style="bold")
    for row in names:
        text.append("\n")
        text.append(pad(row, width) + "  ", style="bold")
        for column in names:
            mark, style = matrix_cell(overlaps, row, column)
            text.append(pad(mark, width) + " ", style=style)
    text.append(f"\n{CONFLICT_MARK} conflict  {CLEAN_MARK} clean merge  (number: files)",
                style="dim")
    return text


def activity_strip(names: Sequence[str], activity: dict[str, list[int]],
                   width: int = 0) -> Text:
    """Per agent, writes per minute, oldest on the left, newest minute last: the last hour,
    or as many of its minutes as fit in `width` columns."""
    name_width = max((display_width(n) for n in names), default=4)
    text = Text(no_wrap=True, overflow="crop")
    for i, name in enumerate(names):
        counts = activity.get(name, [])
        total = sum(counts)
        if width:
            counts = counts[-max(width - name_width - 2 - len(f"  {total}"), 5):]
        if i:
            text.append("\n")
        text.append(pad(name, name_width) + "  ", style="bold")
        text.append(sparkline(counts) if counts else "", style="cyan")
        text.append(f"  {total}", style="dim")
    if not names:
        text.append("no agents", style="dim")
    return text


def ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "-"
    return format_duration(max(0.0, (now or time.time()) - ts)) + " ago"


def agent_detail(agent: dict[str, Any], overlaps: Sequence[dict[str, Any]]) -> Text:
    """An agent's changed files and, per overlapping file, the lines each agent changed."""
    name = agent["name"]
    text = Text()
    text.append(f"{name}", style="bold")
    text.append(f"  {agent.get('branch') or '(detached)'}  {agent['state']}  "
                f"+{agent['ahead']}/-{agent['behind']}  health {agent.get('health', '?')}")
    if agent.get("health_progress"):
        text.append(f" (a check of HEAD is {agent['health_progress']})")
    text.append("\n")
    if agent.get("pause_reason"):
        text.append(f"paused: {agent['pause_reason']}\n", style="red")
    if agent.get("locks"):
        text.append(f"locks: {', '.join(agent['locks'])}\n")
    text.append(f"\nchanged files ({len(agent['changed'])}):\n", style="bold")
    for path in agent["changed"]:
        text.append(f"  {path}\n")
    mine = [o for o in overlaps if name in o["agents"]]
    text.append(f"\noverlaps ({len(mine)}):\n", style="bold")
    for item in mine:
        others = [a for a in item["agents"] if a != name]
        kind = item.get("classification") or "not predicted yet"
        text.append(f"  {item['path']}", style="bold")
        text.append(f"  with {', '.join(others)}: ")
        text.append(kind + "\n", style="red" if kind == "conflict" else "green")
        for hunk in item.get("hunks", []):
            sides = [f"{a} lines {hunk[a][0]}-{hunk[a][1]}" for a in hunk.get("agents", [])
                     if a in hunk]
            text.append(f"    {'; '.join(sides)}\n")
    return text


QUEUE_STYLES = {"queued": "yellow", "running": "bold cyan", "landed": "green",
                "ejected": "bold red", "refused": "red"}


def queue_panel(entries: Sequence[QueueEntry], now: float | None = None) -> Text:
    """The landing queue: waiting agents by position (the running one is 1), then the newest
    finished ones; time is how long an entry has waited, or since it finished."""
    if not entries:
        return Text("queue empty (queue agents with `gitwarden land AGENT`)", style="dim")
    now = now or time.time()
    waiting = [e for e in entries if e.state in ("running", "queued")]
    waiting.sort(key=lambda e: (e.state != "running", e.id))
    position = {e.id: str(i) for i, e in enumerate(waiting, 1)}
    rows = [(position.get(e.id, "-"), e.agent, e.state,
             ago(e.enqueued_ts if e.id in position else e.updated_ts, now),
             for_terminal(e.reason, newlines=False))
            for e in [*waiting, *sorted((e for e in entries if e.id not in position),
                                        key=lambda e: -e.updated_ts)]]
    headers = ("#", "agent", "state", "time", "reason")
    widths = [max(display_width(h), *(display_width(r[i]) for r in rows))
              for i, h in enumerate(headers[:-1])]
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("  ".join(pad(h, w) for h, w in zip(headers, widths, strict=False))
                + "  reason", style="bold")
    for row in rows:
        text.append("\n")
        text.append(pad(row[0], widths[0]) + "  ")
        text.append(pad(row[1], widths[1]) + "  ", style="bold")
        text.append(pad(row[2], widths[2]), style=QUEUE_STYLES.get(row[2], ""))
        text.append("  " + pad(row[3], widths[3]) + "  ")
        text.append(row[4], style="red" if row[2] in ("ejected", "refused") else "")
    return text
