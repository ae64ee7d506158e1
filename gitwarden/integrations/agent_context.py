"""What gitwarden tells an agent at session start, on each prompt and when its turn ends.

The text is facts, not orders (agent tools treat command-like context as prompt injection):
who the agent is, its task and scope, its pause, the open requests addressed to it, the locks
other agents hold inside its scope and how far its base branch moved. Every command named is
one the agent's shell can run (gitwarden.invocation). Read straight from git's files and the
state database: SessionStart and UserPromptSubmit hooks wait for it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from gitwarden.integrations.claude_hook import (
    Place,
    _open_db,
    _pause_reason,
    _printable,
    _rows,
    resolve_place,
)
from gitwarden.invocation import gitwarden_command

MAX_ITEMS = 20


def context_for(cwd: str) -> str | None:
    """The context text for the agent working in `cwd`; None for the user's own shell."""
    place = resolve_place({"cwd": cwd})
    if place is None:
        return None
    gitwarden = gitwarden_command()
    settings = place.config.agents.get(place.agent) if place.config else None
    scope = tuple(settings.scope) if settings else ()
    lines = [f"gitwarden: you are agent {place.agent}, working in the worktree {place.root}."]
    task = settings.task if settings else None
    lines.append(f"Your assignment: {task}" if task else
                 "No task is recorded for you (see .gitwarden/ASSIGNMENT.md).")
    lines.append(f"Your scope: {', '.join(scope)} (edits outside it are refused)." if scope
                 else "Your scope: the whole repository, except files locked by others.")
    paused, requests, locks = _state(place, scope)
    if paused:
        lines.append(f"PAUSED: {paused}")
    if requests:
        lines.append(f"Open requests addressed to you (close each when handled with "
                     f"`{gitwarden} request --close ID`):")
        lines.extend(f"- #{rid} from {sender}: {text}" for rid, sender, text in requests)
    else:
        lines.append("No open requests addressed to you.")
    if locks:
        lines.append("Files other agents have locked in your scope (do not edit them):")
        lines.extend(locks)
    stale = _base_behind(place)
    if stale:
        lines.append(stale)
    lines.append(f"gitwarden commands: `{gitwarden} status`, `{gitwarden} lock PATH --reason "
                 f"TEXT`, `{gitwarden} unlock PATH`, `{gitwarden} inbox`, `{gitwarden} request "
                 f"--to AGENT TEXT`, `{gitwarden} done -m SUMMARY`.")
    return _printable("\n".join(lines))


def _state(place: Place, scope: tuple[str, ...]) -> tuple[str | None, list[Any], list[str]]:
    from gitwarden.coordination.scope import normalize_scope, patterns_overlap

    db = _open_db(place.common_dir)
    if db is None:
        return None, [], []
    now = time.time()
    try:
        paused = _pause_reason(db, place.agent)
        requests = _rows(db, "SELECT id, from_agent, text FROM requests WHERE to_agent = ? "
                         "AND closed_at IS NULL ORDER BY id LIMIT ?", (place.agent, MAX_ITEMS))
        held = _rows(db, "SELECT pattern, agent, reason, expires_at FROM locks WHERE kind = "
                     "'path' AND agent != ? AND (expires_at IS NULL OR expires_at > ?) "
                     "ORDER BY id", (place.agent, now))
    finally:
        db.close()
    patterns = [normalize_scope(p) for p in scope]
    locks = []
    for pattern, holder, reason, expires in held:
        if patterns and not any(patterns_overlap(pattern, p) for p in patterns):
            continue
        until = ("no expiry" if expires is None else
                 "until " + time.strftime("%H:%M", time.localtime(expires)))
        why = f" ({reason})" if reason else ""
        locks.append(f"- `{pattern}`: agent {holder}{why}, {until}")
    return paused, requests, locks[:MAX_ITEMS]


def _base_behind(place: Place) -> str | None:
    """How many commits the base branch has that this agent's branch lacks, when known."""
    base = (place.config.base if place.config else None) or "main"
    try:
        proc = subprocess.run(["git", "rev-list", "--count", f"HEAD..{base}", "--"],
                              cwd=place.root, capture_output=True, text=True, timeout=5,
                              check=False, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    count = proc.stdout.strip()
    if proc.returncode != 0 or not count.isdigit() or count == "0":
        return None
    return (f"The base branch {base} has {count} commit(s) your branch does not have yet "
            f"(`git log --oneline HEAD..{shlex.quote(base)}`).")


def checkpoint_and_remind(cwd: str, already_reminded: bool) -> str | None:
    """Take a checkpoint of the agent's worktree (its files, HEAD and index untouched), then
    the reminder of unanswered requests, or None (also when `already_reminded`)."""
    place = resolve_place({"cwd": cwd})
    if place is None:
        return None
    from gitwarden.agents.workspace import Workspace
    from gitwarden.checkpoints.take import take_checkpoint

    take_checkpoint(Workspace.load(Path(place.root)), place.agent,
                    message="end of the agent's turn (Stop hook)")
    if already_reminded:
        return None
    _, requests, _ = _state(place, ())
    if not requests:
        return None
    gitwarden = gitwarden_command()
    lines = [f"gitwarden: agent {place.agent} has {len(requests)} unanswered request(s) from "
             "other agents. Handle them (or reply with "
             f"`{gitwarden} request --to AGENT TEXT`) and close each with "
             f"`{gitwarden} request --close ID` before finishing:"]
    lines.extend(f"- #{rid} from {sender}: {text}" for rid, sender, text in requests)
    return _printable("\n".join(lines))
