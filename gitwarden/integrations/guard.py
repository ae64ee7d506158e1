"""What the git pre-commit and pre-push guards decide, and how they say it.

Like the agent hooks, the guards fail closed: when they cannot decide (bad config, unreadable
state) they refuse with the problem and its fix, unless the user set `[hooks] on_error =
"allow"`. `GITWARDEN_BYPASS=1` is the user's override; from an agent's context (GITWARDEN_AGENT
set, or a shell of an agent tool such as Claude Code's) it is refused and logged, and refusals
never tell an agent how to bypass them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from gitwarden.agents.caller import current_agent, in_agent_tool
from gitwarden.agents.identity import call_environ
from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pauses import pause_info
from gitwarden.coordination.violations import check_paths
from gitwarden.errors import GitwardenError
from gitwarden.integrations.git_hooks import BYPASS_ENV, pushed_paths, staged_paths
from gitwarden.integrations.hook_errors import on_error_setting, problem_and_fix
from gitwarden.output import for_terminal
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event


def run_guard(kind: str, cwd: Path | None, *, push_lines: list[str] | None = None,
              err: IO[str] | None = None,
              load: Callable[[Path | None], Workspace] = Workspace.load) -> int:
    """0 to let git go on, 1 to refuse; problems are printed to `err` (default stderr) for
    the committer. The pre-push lines come from `push_lines`, else stdin; `load` gives the
    workspace of `cwd` (the daemon passes one that reuses what it read before)."""
    what = "commit" if kind == "pre-commit" else "push"
    out = err or sys.stderr
    try:
        return _guard(kind, load(cwd), what, push_lines, out)
    except Exception as exc:
        here = str(cwd or Path.cwd())
        _, setting = on_error_setting(here)
        problem, fix = problem_and_fix(exc)
        if setting == "allow":
            print(f"gitwarden: {kind} guard could not check this {what} ({problem}); "
                  "allowed ([hooks] on_error = \"allow\")", file=out)
            return 0
        print(for_terminal(f"gitwarden: {what} refused: the {kind} guard cannot check it: "
                           f"{problem}. Fix: {fix}."), file=out)
        return 1


def _guard(kind: str, workspace: Workspace, what: str, push_lines: list[str] | None,
           out: IO[str]) -> int:
    root = workspace.repo.current_worktree or Path.cwd()
    agent = current_agent(workspace, cwd=root)
    if agent is None:
        return 0
    with Store.open(workspace.repo) as store:
        if call_environ().get(BYPASS_ENV) == "1":
            if in_agent_tool():
                record_event(store, EventKind.GUARD_REJECTED,
                             f"{kind} guard: refused {BYPASS_ENV}=1 from agent {agent.name}'s "
                             "tool", agent=agent.name, severity="warning",
                             data={"hook": kind, "bypass": True})
                print(f"gitwarden: {what} refused: {BYPASS_ENV} is for the user, and this "
                      f"runs in agent {agent.name}'s tool; ask the user.", file=out)
                return 1
            record_event(store, EventKind.GUARD_BYPASSED,
                         f"{kind} guard bypassed with {BYPASS_ENV}=1 by agent {agent.name}",
                         agent=agent.name, severity="warning", data={"hook": kind})
            print(f"gitwarden: {kind} guard bypassed ({BYPASS_ENV}=1); this is logged",
                  file=out)
            return 0
        problems: list[str] = []
        paused = pause_info(store, agent.name)
        if paused:
            problems.append(f"agent {agent.name} is paused ({paused.reason}); wait for the "
                            "user to resume it")
        if kind == "pre-commit":
            paths = staged_paths(root)
        else:
            lines = sys.stdin.read().splitlines() if push_lines is None else push_lines
            paths = pushed_paths(root, lines, _base(workspace))
        violations = check_paths(workspace, store, agent.name, paths)
        problems.extend(v.message for v in violations)
        if not problems:
            return 0
        record_event(store, EventKind.GUARD_REJECTED,
                     f"{kind} guard refused a {what} by {agent.name}: "
                     + "; ".join(problems), agent=agent.name, severity="warning",
                     data={"hook": kind, "problems": problems,
                           "violations": [v.as_json() for v in violations]})
    print(f"gitwarden: {what} refused for agent {agent.name}:", file=out)
    for problem in problems:
        print(f"  - {for_terminal(problem, newlines=False)}", file=out)
    print("  Unstage those files (git restore --staged PATH) or ask their holder "
          "(`gitwarden request --to AGENT ...`).", file=out)
    return 1


def _base(workspace: Workspace) -> str | None:
    try:
        return workspace.base_branch
    except GitwardenError:
        return None
