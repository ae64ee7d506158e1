"""What a new lock takes from other agents: paths in their scope, files they changed.

A lock is exclusive, so a glob such as `src/**` can silently cut another agent off from files
it owns or is editing right now. The lock is still granted (the user's rules decide who may
lock what); the locker and the log are told, so nobody finds out only when a hook denies.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.scope import matches, normalize_scope, patterns_overlap
from gitwarden.errors import GitError
from gitwarden.git.changes import parse_status_z
from gitwarden.git.runner import run_git
from gitwarden.output import for_terminal


def lock_warnings(workspace: Workspace, locker: str, patterns: Sequence[str]) -> list[str]:
    """One line per other agent whose scope or uncommitted changes the patterns cover."""
    warnings: list[str] = []
    for agent in workspace.agents:
        if agent.name == locker or not agent.exists:
            continue
        scoped = [s for s in agent.settings.scope
                  if any(patterns_overlap(p, normalize_scope(s)) for p in patterns)]
        if scoped:
            warnings.append(f"this lock covers paths in the scope of agent {agent.name} "
                            f"({', '.join(scoped)}): it cannot edit them until you unlock")
        try:
            proc = run_git(["status", "--porcelain=v1", "-z", "--untracked-files=all",
                            "--no-renames"], agent.path)
        except GitError:
            continue
        tracked, untracked = parse_status_z(proc.stdout)
        hit = [path for path in (*tracked, *untracked)
               if any(matches(p, path) for p in patterns)]
        if hit:
            shown = ", ".join(for_terminal(p, newlines=False) for p in hit[:3])
            more = f" and {len(hit) - 3} more" if len(hit) > 3 else ""
            warnings.append(f"agent {agent.name} has uncommitted changes under this lock "
                            f"({shown}{more}): it cannot finish or commit them until you "
                            "unlock; ask it first with `gitwarden request --to "
                            f"{agent.name} \"...\"`")
    return warnings
