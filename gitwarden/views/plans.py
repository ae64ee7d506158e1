"""The words of a rollback plan: what `rollback --dry-run` prints and `top` shows before it
asks. Nothing here changes anything; the plan is data, this is how it reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitwarden.output import short

if TYPE_CHECKING:
    from gitwarden.checkpoints.rollback_plan import RollbackPlan


def describe_plan(plan: RollbackPlan, what: str = "roll back") -> list[str]:
    """One line naming the target, then one line per branch move and file change."""
    noun = "clean commit" if plan.target.kind == "commit" else "checkpoint"
    summary = plan.target.summary
    if plan.target.kind == "commit":
        # A clean commit's summary reads "clean commit <id>: <subject>": say that once.
        summary = summary.partition(": ")[2] or summary
    lines = [f"would {what} {plan.agent} to {noun} {short(plan.target.commit)}: {summary}"]
    if plan.moves_head:
        where = f"branch {plan.branch}" if plan.branch else "detached HEAD"
        lines.append(f"  {where}: {short(plan.current_head)} -> {short(plan.target.head)}")
    for change in plan.changes:
        if change.status != "D":
            verb = "restore" if change.status == "A" else "overwrite"
            lines.append(f"  {verb} {change.path}")
    lines.extend(f"  delete {change.path}" for change in plan.changes if change.status == "D")
    lines.extend(f"  leave in place {path} (no checkpoint holds it; --include-untracked-large "
                 "replaces it after saving it to the stash)" for path in plan.kept)
    lines.extend(f"  put back {path} from the stash" for path in plan.restores)
    lines.extend(f"  keep nested repository {path} (never deleted or replaced)"
                 for path in plan.kept_nested)
    if not plan.changes:
        lines.append("  no file changes")
    return lines
