"""The context files gitwarden keeps in every agent worktree, rendered from plain data.

`.gitwarden/ASSIGNMENT.md` (this agent's task, scope and the lock protocol),
`.gitwarden/STATE.md` (every agent, changes, locks, overlaps, health, pauses) and
`.gitwarden/REQUESTS.md` (open requests to this agent). They hold no timestamps of their own
rendering, so an unchanged state renders byte-identical files and nothing is rewritten.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gitwarden.invocation import gitwarden_command
from gitwarden.output import printable

MAX_LISTED_FILES = 40

LOCK_PROTOCOL = """\
- Before editing a file another agent may touch, lock it:
  `gitwarden lock PATH_OR_GLOB --reason "what you are doing" [--ttl 30m]`.
- A locked file is not yours to edit: the edit is refused. Work on something else, wait with
  `gitwarden lock PATH --wait 10m`, or ask its holder with `gitwarden request --to AGENT "..."`.
- Renew long work with `gitwarden lock --renew`; release with `gitwarden unlock PATH` as soon as
  you are done. Locks expire after their TTL.
- Run shared, exclusive jobs (test suite, migrations) with `gitwarden run --lock NAME -- CMD`.
"""


@dataclass(frozen=True)
class AgentSummary:
    name: str
    branch: str | None
    path: str
    task: str | None = None
    scope: tuple[str, ...] = ()
    state: str = "ok"
    changed: tuple[str, ...] = ()
    overlaps: tuple[str, ...] = ()
    paused: str | None = None
    done: str | None = None
    health: str | None = None
    base: str | None = None  # behind / conflicting with the base, and what to do


@dataclass(frozen=True)
class LockLine:
    pattern: str
    agent: str
    reason: str
    expires_at: float | None
    kind: str = "path"


@dataclass(frozen=True)
class RequestLine:
    id: int
    ts: float
    from_agent: str
    text: str


@dataclass(frozen=True)
class SharedState:
    base: str
    agents: Sequence[AgentSummary]
    locks: Sequence[LockLine] = ()
    overlaps: Mapping[str, Sequence[str]] = field(default_factory=dict)
    kill_switch: str | None = None


def lock_protocol(gitwarden: str = "gitwarden") -> str:
    """The lock protocol with gitwarden named by a command the agent's shell can run."""
    return LOCK_PROTOCOL.replace("`gitwarden ", f"`{gitwarden} ")


def render_assignment(agent: AgentSummary, base: str, gitwarden: str | None = None) -> str:
    """The assignment file; `gitwarden` is how the agent's shell runs gitwarden (by default
    the name on PATH, else the installed entry point's absolute path)."""
    command = gitwarden or gitwarden_command()
    lines = [f"# Assignment: agent {agent.name}", "",
             "Maintained by gitwarden; do not edit (it is rewritten and kept out of git).", "",
             f"- Worktree: `{agent.path}`", f"- Branch: `{agent.branch or '(detached)'}`",
             f"- Base branch: `{base}`", "", "## Task", "",
             agent.task or f"(no task recorded: `{command} agent add NAME --task TEXT` sets one)",
             "", "## Scope", ""]
    if agent.scope:
        lines.append("Only modify files matching (git wildmatch globs):")
        lines.extend(f"- `{pattern}`" for pattern in agent.scope)
        lines.append("Edits and commits outside these paths are refused.")
    else:
        lines.append("No scope restriction: any file of the repository, unless locked.")
    lines += ["", "## Lock protocol", "", lock_protocol(command).rstrip(), "", "## Commands", "",
              f"- `{command} status` / `.gitwarden/STATE.md`: what every agent is doing.",
              f"- `{command} locks`: who holds which lock, until when.",
              f"- `{command} inbox` / `.gitwarden/REQUESTS.md`: requests from other agents;"
              f" `{command} request --close ID` when handled.",
              f"- `{command} done -m \"summary\"`: tell everyone your task is finished.", ""]
    if command != "gitwarden":
        lines += [f"`gitwarden` is not on your PATH: run it as `{command}`.", ""]
    return printable("\n".join(lines))


def render_state(state: SharedState) -> str:
    lines = ["# Shared state of all agents", "",
             "Maintained by gitwarden; do not edit.", "", f"Base branch: `{state.base}`", ""]
    if state.kill_switch:
        lines += [f"**KILL SWITCH ENGAGED**: {state.kill_switch}. Every agent is paused; "
                  "stop and wait for `gitwarden resume --all`.", ""]
    lines += ["## Agents", ""]
    if not state.agents:
        lines.append("(none)")
    for agent in state.agents:
        # "paused" and "done" are said below, with their reason and summary.
        flags = [agent.state] if agent.state not in ("ok", "paused", "done") else []
        if agent.paused is not None or agent.state == "paused":
            flags.append(f"PAUSED: {agent.paused}" if agent.paused else "PAUSED")
        if agent.done is not None:
            flags.append(f"done: {agent.done}" if agent.done else "done")
        suffix = f" — {'; '.join(flags)}" if flags else ""
        lines.append(f"### {agent.name} (`{agent.branch or 'detached'}`){suffix}")
        lines.append("")
        lines.append(f"- Task: {agent.task or '(none recorded)'}")
        if agent.scope:
            lines.append(f"- Scope: {', '.join(f'`{p}`' for p in agent.scope)}")
        if agent.health:
            lines.append(f"- Health: {agent.health}")
        lines.append(f"- Changed files ({len(agent.changed)}): " +
                     (_file_list(agent.changed) if agent.changed else "none"))
        if agent.overlaps:
            lines.append(f"- Overlaps with other agents: {_file_list(agent.overlaps)}")
        if agent.base:
            lines.append(f"- Base: {agent.base}")
        lines.append("")
    lines += ["## Locks", ""]
    if state.locks:
        for lock in state.locks:
            until = "no expiry" if lock.expires_at is None else \
                "until " + time.strftime("%Y-%m-%d %H:%M", time.localtime(lock.expires_at))
            reason = f" — {lock.reason}" if lock.reason else ""
            kind = "resource " if lock.kind == "resource" else ""
            lines.append(f"- {kind}`{lock.pattern}`: {lock.agent}, {until}{reason}")
    else:
        lines.append("(none)")
    lines += ["", "## Overlapping files", ""]
    if state.overlaps:
        lines.extend(f"- `{path}`: {', '.join(names)}" for path, names in state.overlaps.items())
    else:
        lines.append("(none)")
    lines.append("")
    return printable("\n".join(lines))


def render_requests(agent: str, requests: Sequence[RequestLine]) -> str:
    lines = [f"# Requests to agent {agent}", "",
             "Maintained by gitwarden; do not edit. Close a handled request with "
             f"`{gitwarden_command()} request --close ID`.", ""]
    if not requests:
        lines.append("(no open requests)")
    for request in requests:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(request.ts))
        lines += [f"## #{request.id} from {request.from_agent} ({when})", "", request.text, ""]
    if requests:
        lines.pop()
    lines.append("")
    return printable("\n".join(lines))


def _file_list(paths: Sequence[str]) -> str:
    shown = ", ".join(f"`{p}`" for p in paths[:MAX_LISTED_FILES])
    extra = len(paths) - MAX_LISTED_FILES
    return shown + (f" and {extra} more" if extra > 0 else "")
