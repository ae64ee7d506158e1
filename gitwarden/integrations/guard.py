"""What the git pre-commit and pre-push guards decide, and how they say it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gitwarden.agents.caller import current_agent
from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pauses import pause_info
from gitwarden.coordination.violations import check_paths
from gitwarden.errors import GitwardenError
from gitwarden.integrations.git_hooks import BYPASS_ENV, pushed_paths, staged_paths
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event

if TYPE_CHECKING:
    from gitwarden.agents.workspace import Workspace


def run_guard(kind: str, cwd: Path | None) -> int:
    """0 to let git go on, 1 to refuse; problems are printed to stderr for the committer."""

    workspace = Workspace.load(cwd)
    root = workspace.repo.current_worktree or Path.cwd()
    agent = current_agent(workspace, cwd=root)
    if agent is None:
        return 0
    with Store.open(workspace.repo) as store:
        if os.environ.get(BYPASS_ENV) == "1":
            record_event(store, EventKind.GUARD_BYPASSED,
                         f"{kind} guard bypassed with {BYPASS_ENV}=1 by agent {agent.name}",
                         agent=agent.name, severity="warning", data={"hook": kind})
            print(f"gitwarden: {kind} guard bypassed ({BYPASS_ENV}=1); this is logged",
                  file=sys.stderr)
            return 0
        problems: list[str] = []
        paused = pause_info(store, agent.name)
        if paused:
            problems.append(f"agent {agent.name} is paused ({paused.reason}); wait for "
                            f"`gitwarden resume {agent.name}`")
        if kind == "pre-commit":
            paths = staged_paths(root)
        else:
            lines = sys.stdin.read().splitlines()
            paths = pushed_paths(root, lines, _base(workspace))
        violations = check_paths(workspace, store, agent.name, paths)
        problems.extend(v.message for v in violations)
        if not problems:
            return 0
        what = "commit" if kind == "pre-commit" else "push"
        record_event(store, EventKind.GUARD_REJECTED,
                     f"{kind} guard refused a {what} by {agent.name}: "
                     + "; ".join(problems), agent=agent.name, severity="warning",
                     data={"hook": kind, "problems": problems,
                           "violations": [v.as_json() for v in violations]})
    print(f"gitwarden: {what} refused for agent {agent.name}:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    print("  Unstage those files or ask their holder (`gitwarden request --to AGENT ...`); "
          f"to override once: {BYPASS_ENV}=1 git {what} ... (logged)", file=sys.stderr)
    return 1


def _base(workspace: Workspace) -> str | None:

    try:
        return workspace.base_branch
    except GitwardenError:
        return None
