"""The daemon's side of the hook client: hook and guard calls answered by the warm process.

The answer is the one the hook or guard gives when run directly (the same functions run, on
the same input, working directory and environment: the caller's environment is set in
gitwarden.agents.identity.CALL_ENV for the answering thread only); what the daemon saves is
the interpreter start-up and the imports. A call for another repository, one whose payload
the client read differently (its "cwd" is found without a JSON parser), an end-of-turn event
(it checkpoints: the direct path does that), or one this cannot answer gets `ok: false` and
the client runs the hook directly.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from gitwarden.agents.identity import CALL_ENV, find_worktree
from gitwarden.agents.workspace import Workspace
from gitwarden.git.repository import Repo
from gitwarden.integrations import (
    claude_context,
    claude_hook,
    codex_hook,
    gemini_hook,
    opencode_hook,
)
from gitwarden.integrations.guard import run_guard
from gitwarden.integrations.hook_memory import MemoryReads

# The agent-tool hooks the client sends: each adapter's main(stdin, stdout).
TOOL_HOOKS: dict[str, Callable[[IO[str], IO[str]], int]] = {
    "claude": claude_hook.main, "claude-context": claude_context.main,
    "codex": codex_hook.main, "gemini": gemini_hook.main, "opencode": opencode_hook.main}
KINDS = (*TOOL_HOOKS, "pre-commit", "pre-push")
# End-of-turn events checkpoint the agent: the direct path runs them, as before the daemon.
DIRECT_EVENTS = frozenset({"Stop", "AfterAgent"})
# The shell parser (tree-sitter) and the decision core are used from one thread at a time.
_ONE_AT_A_TIME = threading.Lock()
# What the agent-tool decisions read (config, worktrees, locks, pauses), kept while unchanged.
_MEMORY = MemoryReads()
# Workspaces read for guard calls, by working directory, reused while nothing they were read
# from changed (what `git rev-parse` and `git worktree list` would say, and gitwarden.toml):
# the two git processes a guard call would otherwise start. Bounded: an entry lives CACHE_AGE
# seconds (one of a removed worktree goes with the next store), at most MAX_WORKSPACES at once.
_WORKSPACES: dict[str, tuple[tuple[object, ...], float, Workspace]] = {}
CACHE_AGE = 60.0
MAX_WORKSPACES = 256


def answer(request: dict[str, Any], common_dir: Path) -> dict[str, Any]:
    """{"ok": True, "exit", "stdout", "stderr"} as the hook would exit and print, or
    {"ok": False, "error"} for the client to run the hook itself."""
    kind, cwd, text, env = (request.get("kind"), request.get("cwd"), request.get("input"),
                            request.get("env"))
    if kind not in KINDS or not isinstance(cwd, str) or not isinstance(text, str) or \
            not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        return {"ok": False, "error": "bad hook request"}
    location = find_worktree(cwd) if os.path.isdir(cwd) else None
    if location is None or os.path.realpath(location.common_dir) != \
            os.path.realpath(common_dir):
        return {"ok": False, "error": "not a worktree of this daemon's repository"}
    if kind in TOOL_HOOKS and not _payload_from(text, cwd):
        return {"ok": False, "error": "the direct path answers this call"}
    out, err = io.StringIO(), io.StringIO()
    with _ONE_AT_A_TIME, contextlib.redirect_stderr(err):
        # stderr: what the hook tells the caller, as run directly (the daemon's log handler
        # holds its own stream; only a stray print of another thread could land here)
        token = CALL_ENV.set({str(k): v for k, v in env.items()})
        reads = claude_hook.READS.set(_MEMORY)
        try:
            if kind in TOOL_HOOKS:
                code = TOOL_HOOKS[kind](io.StringIO(text), out)
            else:
                lines = text.splitlines() if kind == "pre-push" else None
                code = run_guard(kind, Path(cwd), push_lines=lines, err=err,
                                 load=_cached_workspace)
        finally:
            claude_hook.READS.reset(reads)
            CALL_ENV.reset(token)
    return {"ok": True, "exit": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def _payload_from(text: str, cwd: str) -> bool:
    """Whether the tool call's JSON is an object whose cwd is the one the client found, and
    not an end-of-turn event."""
    try:
        payload = json.loads(text)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("cwd") == cwd and \
        payload.get("hook_event_name") not in DIRECT_EVENTS


def _cached_workspace(start: Path | None) -> Workspace:
    key = os.path.realpath(start or os.getcwd())
    found = _WORKSPACES.get(key)
    now = time.monotonic()
    if found is not None and now - found[1] < CACHE_AGE and \
            found[0] == _signature(found[2].repo, key):
        return found[2]
    workspace = Workspace.load(start)
    signature = _signature(workspace.repo, key)  # before the reads: a change in between shows
    workspace.worktrees  # noqa: B018 - read now, reused while the signature holds
    for old in [k for k, (_, stored, _) in _WORKSPACES.items() if now - stored >= CACHE_AGE]:
        del _WORKSPACES[old]
    _WORKSPACES.pop(key, None)
    _WORKSPACES[key] = (signature, now, workspace)
    while len(_WORKSPACES) > MAX_WORKSPACES:
        del _WORKSPACES[next(iter(_WORKSPACES))]
    return workspace


def _signature(repo: Repo, cwd: str) -> tuple[object, ...]:
    """What changes when the workspace of `cwd` may: the worktree list, each worktree's admin
    files, the main worktree's HEAD (the default base), git's and gitwarden's config."""
    common = str(repo.common_dir)
    paths = [os.path.join(cwd, ".git"), str(repo.config_path), os.path.join(common, "HEAD"),
             os.path.join(common, "config"), os.path.join(common, "worktrees")]
    try:
        admins = sorted(os.listdir(os.path.join(common, "worktrees")))
    except OSError:
        admins = []
    for name in admins:
        for leaf in ("HEAD", "gitdir", "locked", "config.worktree"):
            paths.append(os.path.join(common, "worktrees", name, leaf))
    return tuple(_stat_key(path) for path in paths)


def _stat_key(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)
