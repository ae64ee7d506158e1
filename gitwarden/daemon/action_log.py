"""The daemon's log of what happened: one line per event of severity warning or above, by
whichever process recorded it (the daemon, a hook, the CLI), with the agent, the commit and
the command that undoes it. A service user reads it in journald or launchd's log file without
running `gitwarden events`; with --json-log each line carries the same fields as JSON.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gitwarden.config import SEVERITIES
from gitwarden.health.policy import resume_command, undo_command
from gitwarden.output import printable
from gitwarden.store.events import Event, EventKind

log = logging.getLogger("gitwarden.actions")

# Event data keys naming the commit an event is about, most specific first.
_COMMIT_KEYS = ("culprit", "revert_commit", "commit", "target", "head", "landed")
_LEVELS = {"warning": logging.WARNING, "error": logging.ERROR}
# Agents name files and write messages: their control characters never reach a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def worth_logging(event: Event) -> bool:
    return _rank(event.severity) >= _rank("warning")


def undo_of(event: Event) -> str | None:
    """The one command that undoes what the event reports, when there is one."""
    data = event.data
    for key in ("undo", "resume"):
        if isinstance(data.get(key), str) and data[key]:
            return str(data[key])
    agent = event.agent
    if event.kind == EventKind.KILLSWITCH_ENGAGED:
        return "gitwarden resume --all"
    if agent is None:
        return None
    if event.kind == EventKind.AGENT_PAUSED:
        return resume_command(agent)
    if event.kind == EventKind.HEALTH_CULPRIT and data.get("policy") in ("pause", "revert"):
        return resume_command(agent)
    if event.kind == EventKind.ROLLBACK_APPLIED and not data.get("undo"):
        return undo_command(agent)
    return None


def commit_of(event: Event) -> str | None:
    for key in _COMMIT_KEYS:
        value = event.data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def fields_of(event: Event) -> dict[str, Any]:
    """What the JSON log line carries besides the message."""
    return {"event_id": event.id, "kind": event.kind, "severity": event.severity,
            "agent": event.agent, "path": event.path, "commit": commit_of(event),
            "undo": undo_of(event)}


def line_of(event: Event) -> str:
    """`<kind> [agent=..] [commit=..] <message>; undo: <command>`, terminal-safe."""
    parts = [event.kind]
    if event.agent:
        parts.append(f"agent={event.agent}")
    commit = commit_of(event)
    if commit:
        parts.append(f"commit={commit[:10]}")
    parts.append(event.message)
    text = " ".join(parts)
    undo = undo_of(event)
    if undo:
        text += f"; undo: {undo}"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", printable(text))


def log_event(event: Event) -> None:
    """One log line for an event of severity warning or above; nothing for the others."""
    if not worth_logging(event):
        return
    log.log(_LEVELS.get(event.severity, logging.WARNING), "%s", line_of(event),
            extra={"gitwarden": fields_of(event)})


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
