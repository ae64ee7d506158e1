"""Lock and scope violations: changes an agent made that it may not make."""

from __future__ import annotations

from dataclasses import dataclass

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination import lock_rules, locks
from gitwarden.coordination.scope import (
    OutsideRepository,
    in_scope,
    is_gitwarden_file,
    relative_to_root,
)
from gitwarden.output import printable
from gitwarden.store.db import Store


@dataclass(frozen=True)
class Violation:
    """A change by `agent` to `path` it may not make: locked by another agent, or out of scope."""

    agent: str
    path: str
    kind: str  # "locked" | "scope"
    message: str
    holder: str | None = None
    pattern: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"agent": self.agent, "path": self.path, "kind": self.kind,
                "message": self.message, "holder": self.holder, "pattern": self.pattern}


def check_paths(workspace: Workspace, store: Store, agent_name: str,
                paths: list[str]) -> list[Violation]:
    """The changes among `paths` (relative to the agent's worktree, or absolute) that break a
    lock held by another agent or the agent's scope. Recording them is up to the caller."""
    agent = next((a for a in workspace.agents if a.name == agent_name), None)
    if agent is None:
        return []
    held = locks.list_locks(store, kind=lock_rules.PATH, include_expired=False)
    violations: list[Violation] = []
    for raw in paths:
        try:
            path = relative_to_root(raw, str(agent.path), cwd=str(agent.path))
        except OutsideRepository:
            continue
        if is_gitwarden_file(path):
            continue
        shown = printable(path)
        covering = lock_rules.locks_covering(held, path, other_than=agent_name)
        if covering:
            lock = covering[0]
            violations.append(Violation(
                agent=agent_name, path=shown, kind="locked", holder=lock.agent,
                pattern=lock.pattern,
                message=f"{agent_name} changed {shown}, {lock_rules.describe_holder(lock)}"))
        elif not in_scope(agent.settings.scope, path):
            violations.append(Violation(
                agent=agent_name, path=shown, kind="scope",
                message=f"{agent_name} changed {shown}, outside its scope "
                        f"({', '.join(agent.settings.scope)})"))
    return violations
