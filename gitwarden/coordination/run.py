"""Running a command for `gitwarden run`: own process group (so pause can SIGSTOP it all),
registered under the agent, holding resource locks released however it ends. If the runner
itself is SIGKILLed, the kernel kills the command (PR_SET_PDEATHSIG) and the next lock
request finds the runner's pid dead and takes the lock back."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from gitwarden.agents.caller import current_agent
from gitwarden.agents.identity import AGENT_ENV
from gitwarden.agents.workspace import Workspace
from gitwarden.coordination import locks, pauses
from gitwarden.coordination.arguments import known_agent_names, parse_duration_arg
from gitwarden.coordination.lock_rules import RESOURCE, describe_holder
from gitwarden.coordination.processes import process_start_time
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.store.db import Store

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_command(workspace: Workspace, store: Store, command: list[str], *,
                agent_name: str | None, lock_names: list[str], wait: str,
                locks_changed: Callable[[], object] = lambda: None) -> int:
    """Run `command` for an agent (or the user) holding `lock_names`; `locks_changed` is
    called after the locks are taken and again after they are released."""
    agent = current_agent(workspace, agent_name)
    holder = agent.name if agent else "user"
    cwd = str(agent.path) if agent_name and agent is not None else None
    if cwd is not None and not os.path.isdir(cwd):
        raise GitwardenError(f"worktree missing: {cwd}")
    if agent is not None and pauses.is_paused(store, agent.name):
        raise GitwardenError(f"agent {agent.name} is paused: `gitwarden resume {agent.name}` "
                             "first")
    me, my_start = os.getpid(), process_start_time(os.getpid())
    if lock_names:
        _take_locks(workspace, store, holder, lock_names, parse_duration_arg(wait, "--wait"),
                    me, my_start)
        locks_changed()
    registration: int | None = None
    try:
        env = dict(os.environ)
        if agent is not None:
            env[AGENT_ENV] = agent.name
        try:
            child = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True,
                                     preexec_fn=_die_with_parent())
        except FileNotFoundError as exc:
            if cwd is not None and not os.path.isdir(cwd):  # removed since the check above
                raise GitwardenError(f"worktree missing: {cwd}") from exc
            raise UsageError(f"command not found: {command[0]}") from exc
        if agent is not None:
            registration = pauses.register_process(
                store, agent.name, child.pid, child.pid, process_start_time(child.pid),
                shlex.join(command))
            if pauses.is_paused(store, agent.name):  # paused between the check and now
                os.killpg(child.pid, signal.SIGSTOP)
        previous = _forward_signals(child.pid)
        try:
            code = child.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 128 - code if code < 0 else code
    finally:
        if registration is not None:
            pauses.unregister_process(store, registration)
        if lock_names:
            locks.release(store, holder, lock_names, kind=RESOURCE)
            locks_changed()


def _take_locks(workspace: Workspace, store: Store, holder: str, names: list[str],
                wait: float, pid: int, pid_start: int | None) -> None:
    options: dict[str, object] = {
        "kind": RESOURCE, "reason": "gitwarden run", "pid": pid, "pid_start": pid_start,
        "stale_after": workspace.config.locks.stale_after,
        "known_agents": known_agent_names(workspace)}
    result = locks.acquire(store, holder, names, ttl=None, **options)  # type: ignore[arg-type]
    if not result.granted:
        for name, lock in result.conflicts:
            print(f"gitwarden: waiting for '{name}', {describe_holder(lock)}", file=sys.stderr)
        result = locks.acquire_waiting(store, holder, names, wait=wait, ttl=None, poll=0.2,
                                       **options)
    if not result.granted:
        held = ", ".join(f"'{n}' ({describe_holder(lock)})" for n, lock in result.conflicts)
        raise GitwardenError(f"timed out waiting for {held}")


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def set_pdeathsig() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)

    return set_pdeathsig


def _forward_signals(pgid: int) -> dict[int, Any]:
    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signum)

    previous: dict[int, Any] = {}
    for signum in _FORWARDED:
        previous[signum] = signal.signal(signum, forward)
    return previous
