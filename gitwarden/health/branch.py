"""Whether the commits a health step is about are still on the agent's branch.

A verdict belongs to a tree and a commit; what gitwarden acts on is the branch as it is when it
acts. An amend, a `reset --hard` or a rebase takes commits off the branch: every step of a
check (a run, the confirmation, the bisection, a notification, a pause, a revert) first asks
this module, and work for commits that left the branch stops as superseded.
"""

from __future__ import annotations

from pathlib import Path

from gitwarden.errors import GitwardenError
from gitwarden.git.commits import is_ancestor
from gitwarden.git.runner import run_git


class Superseded(GitwardenError):
    """The commit under check left the agent's branch (or the branch moved on to a commit
    that does not fail): nothing may be done about it any more."""

    def __init__(self, commit: str, head: str | None, why: str) -> None:
        super().__init__(why)
        self.commit = commit
        self.head = head


class BranchWatch:
    """The agent's current HEAD, asked of git each time (the agent may move it any moment)."""

    def __init__(self, worktree: Path, agent: str, commit: str) -> None:
        self.worktree = worktree
        self.agent = agent
        self.commit = commit  # the commit under check
        self._last_head: str | None = commit
        self._last_answer = True

    def current_head(self) -> str | None:
        if not self.worktree.is_dir():
            return None
        proc = run_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], self.worktree,
                       check=False)
        return proc.stdout.decode().strip() or None

    def holds(self, commit: str, head: str | None = None) -> bool:
        """Whether `commit` is the agent's HEAD or one of its ancestors."""
        current = self.current_head() if head is None else head
        if current is None:
            return False
        return current == commit or is_ancestor(self.worktree, commit, current)

    def ensure(self, step: str, commit: str | None = None) -> str:
        """The current HEAD, or Superseded when `commit` (default: the commit under check)
        is no longer on the branch; `step` says what was about to happen."""
        wanted = commit or self.commit
        current = self.current_head()
        if not self.holds(wanted, current):
            raise Superseded(wanted, current, self.left_message(wanted, current, step))
        return current or wanted

    def left(self) -> bool:
        """Polled while a check runs: True once the commit under check left the branch (one
        git call while HEAD stays where it was)."""
        current = self.current_head()
        if current != self._last_head:
            self._last_head = current
            self._last_answer = self.holds(self.commit, current)
        return not self._last_answer

    def left_message(self, commit: str, current: str | None, step: str) -> str:
        where = f"now at {current[:10]}" if current else "its worktree or HEAD is gone"
        return (f"{commit[:10]} is no longer on {self.agent}'s branch ({where}; amended, "
                f"reset or rebased): {step} cancelled")
