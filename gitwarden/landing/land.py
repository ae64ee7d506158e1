"""Landing queued agents on the base: build the candidate in memory, check it in the scratch
worktree, advance the base by compare-and-swap, bring the main worktree along.

Invariants: the base ref only ever moves from the commit the candidate was built on to a
candidate whose checks passed (`git update-ref NEW OLD`); if the base moved meanwhile nothing
is lost: the candidate is rebuilt on the new base and checked again. No agent worktree is
touched. The main worktree is updated only when it has the base checked out and is clean;
a dirty one refuses the landing before anything moves. On a failing candidate the queue is
bisected over its prefixes (base + first k agents) with health/culprit.py's search: the first
agent whose prefix fails is ejected with the log, the passing prefix before it lands, and the
agents after it are tried again on the new base.
With `[land] push = true` the candidate is built on the remote base, just fetched, and the
remote base advances by a leased push before the local base follows (landing/remote_base.py):
a push refused because another machine landed first is a retry like a local move.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gitwarden.agents.workspace import Workspace
from gitwarden.errors import GitError
from gitwarden.git.commits import is_ancestor
from gitwarden.git.merges import update_branch_cas
from gitwarden.git.runner import run_git
from gitwarden.health.culprit import Evidence, bisect_first_bad
from gitwarden.health.outcomes import Outcome
from gitwarden.health.tester import CommitTester
from gitwarden.landing import queue
from gitwarden.landing.candidate import Candidate, Member, build_candidate
from gitwarden.landing.preflight import LandRefused
from gitwarden.landing.remote_base import (
    RemoteBase,
    fetch_remote_base,
    follow_remote_base,
    local_base_refusal,
    push_remote_base,
    remote_base_of,
)
from gitwarden.landing.told import tell_conflicting_agents
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event, record_notice
from gitwarden.store.state_locks import state_lock

LANDING_TRIGGER = "landing"
LOCK_WAIT_SECONDS = 600.0


@dataclass
class LandReport:
    """What one pass over the queue did."""

    landed: list[str] = field(default_factory=list)
    ejected: dict[str, str] = field(default_factory=dict)  # agent -> reason
    base_before: str | None = None
    base_after: str | None = None
    runs: int = 0
    retries: int = 0
    main_worktree: str = "not checked out"  # updated | not checked out | not updated: ...
    told: list[str] = field(default_factory=list)  # agents now conflicting with the base
    pushed_to: str | None = None  # remote/branch advanced by a leased push ([land] push)

    def as_json(self) -> dict[str, Any]:
        return {"landed": self.landed, "ejected": self.ejected,
                "base": {"from": self.base_before, "to": self.base_after},
                "health_runs": self.runs, "retries": self.retries,
                "main_worktree": self.main_worktree, "now_conflicting": self.told,
                "pushed_to": self.pushed_to}


@contextmanager
def landing_lock(workspace: Workspace) -> Iterator[None]:
    """One landing at a time per repository (the CLI and the daemon alike)."""
    with state_lock(workspace.repo.ensure_state_dir(), "landing", wait=LOCK_WAIT_SECONDS,
                    busy=lambda: LandRefused("another landing is still running"), poll=0.05):
        yield


def main_worktree_refusal(workspace: Workspace) -> str | None:
    """Why the main worktree stops a landing (it has the base checked out and is dirty)."""
    main = next((w for w in workspace.worktrees if w.is_main), None)
    if main is None or main.branch != workspace.base_branch:
        return None
    proc = run_git(["status", "--porcelain=v1", "-z", "--untracked-files=no"], main.path)
    dirty = [p[3:] for p in proc.stdout.decode("utf-8", "replace").split("\0") if p]
    if dirty:
        return (f"the main worktree {main.path} has the base {workspace.base_branch} checked out "
                f"with uncommitted changes ({', '.join(dirty[:3])}"
                f"{' ...' if len(dirty) > 3 else ''}): commit or stash them, then land again")
    return None


def process_queue(workspace: Workspace, store: Store, *, by: str = "user") -> LandReport:
    """Land what is queued, as far as the checks allow; ejected agents are told why."""
    report = LandReport()
    with landing_lock(workspace):
        queue.requeue_running(store)
        attempts = workspace.config.land.retries + 1
        rounds = 0
        while queue.waiting(store) and rounds < attempts + len(queue.waiting(store)):
            rounds += 1
            fresh = type(workspace)(repo=workspace.repo, config=workspace.config)
            refused = main_worktree_refusal(fresh)
            if refused:
                raise LandRefused(refused)
            try:
                moved = not _one_round(fresh, store, report, by)
            except BaseException:
                queue.requeue_running(store)
                raise
            if moved:
                report.retries += 1
                if report.retries >= attempts:
                    raise LandRefused(f"the base kept moving during the landing "
                                      f"({report.retries} attempts); nothing more was landed")
        if report.landed:
            report.told = tell_conflicting_agents(workspace, store)
    return report


def _one_round(workspace: Workspace, store: Store, report: LandReport, by: str) -> bool:
    """Build, check and land the queue once; False when the base moved under it (retry)."""
    base_name = workspace.base_branch
    local = base = workspace.base_commit()
    target = remote_base_of(workspace)
    if target is not None:
        # Fetched before any queue entry changes: an unreachable remote changes nothing.
        base = fetch_remote_base(workspace, target)
        refused = local_base_refusal(workspace, target, local, base)
        if refused:
            raise LandRefused(refused)
    report.base_before = report.base_before or base
    entries = queue.waiting(store)
    agents = {a.name: a for a in workspace.agents}
    members: list[Member] = []
    ids: dict[str, int] = {}
    for entry in entries:
        agent = agents.get(entry.agent)
        if agent is None or agent.head is None or \
                not is_ancestor(workspace.repo.common_dir, entry.head, agent.head):
            # Only facts still true are landed: the queued commit must still be its work.
            _eject(store, entry.id, entry.agent, "its branch no longer holds the queued commit "
                   f"{entry.head[:10]} (rewritten or removed): land it again", None)
            report.ejected[entry.agent] = "gone"
            continue
        queue.set_state(store, entry.id, queue.RUNNING)
        ids[entry.agent] = entry.id
        members.append(Member(entry.agent, agent.branch, entry.head, entry.strategy))
    candidate = build_candidate(workspace.repo.common_dir, base, members, base_name)
    for name, paths in candidate.ejected.items():
        _eject(store, ids[name], name,
               f"conflicts with {base_name} (and the agents landing before it) in "
               f"{', '.join(paths[:5])}: bring it up to date with `gitwarden sync "
               f"{shlex.quote(name)}`, then land again", None)
        report.ejected[name] = "conflict"
    if not candidate.prefixes:
        return True
    landing, failed = _check(workspace, store, candidate, report)
    if failed is not None:
        name, reason, log = failed
        _eject(store, ids[name], name, reason, log)
        report.ejected[name] = reason
    if landing is None:
        for member in candidate.members:
            if member.agent not in report.ejected:
                queue.set_state(store, ids[member.agent], queue.QUEUED)
        return True
    count, commit = landing
    in_the_way = _untracked_in_the_way(workspace, local, commit)
    if in_the_way:
        raise LandRefused(in_the_way)
    names = ", ".join(m.agent for m in candidate.members[:count])
    followed = _advance_base(workspace, target, local, base, commit, f"gitwarden land: {names}")
    if followed is None:
        for member in candidate.members:
            if member.agent not in report.ejected:
                queue.set_state(store, ids[member.agent], queue.QUEUED)
        where = target.name if target else base_name
        record_event(store, EventKind.LAND_RETRIED,
                     f"{where} moved during the landing; building the candidate again "
                     "on the new base", data={"expected": base, "candidate": commit})
        return False
    report.main_worktree = (_follow_main_worktree(workspace, local, commit) if followed
                            else f"not updated: the local {base_name} moved meanwhile; the "
                                 f"landing is on {target.name if target else base_name} "
                                 "(git pull brings it here)")
    report.base_after = commit
    report.pushed_to = target.name if target else None
    landed = [m.agent for m in candidate.members[:count]]
    for member in candidate.members[:count]:
        queue.set_state(store, ids[member.agent], queue.LANDED, landed_commit=commit)
    for member in candidate.members[count:]:
        if member.agent not in report.ejected:
            queue.set_state(store, ids[member.agent], queue.QUEUED)
    report.landed.extend(landed)
    record_notice(store, EventKind.LAND_LANDED,
                  f"landed {', '.join(landed)} on {base_name}: {base[:10]} -> {commit[:10]}",
                  title=f"gitwarden: landed {', '.join(landed)}", severity="info",
                  data={"agents": landed, "from": base, "to": commit, "by": by,
                        "main_worktree": report.main_worktree, "pushed_to": report.pushed_to})
    return True


def _advance_base(workspace: Workspace, target: RemoteBase | None, local: str, base: str,
                  commit: str, reason: str) -> bool | None:
    """Move the base from `base` to `commit`: the remote one first when pushing. None when it
    moved meanwhile (retry); else whether the local base followed."""
    if target is None:
        moved = update_branch_cas(workspace.repo.common_dir, workspace.base_branch, commit,
                                  base, reason)
        return True if moved else None
    if not push_remote_base(workspace, target, base, commit):
        return None
    return follow_remote_base(workspace, target, local=local, remote=base, new=commit,
                              reason=reason)


def _check(workspace: Workspace, store: Store, candidate: Candidate,
           report: LandReport) -> tuple[tuple[int, str] | None, tuple[str, str, str | None] |
                                         None]:
    """((how many members land, commit) or None, (ejected agent, reason, log) or None)."""
    checks = workspace.config.health.checks
    prefixes = list(candidate.prefixes)
    if not checks:
        return (len(prefixes), prefixes[-1]), None
    testers = [CommitTester(workspace, store, check, None, LANDING_TRIGGER) for check in checks]

    def test(commit: str) -> Outcome:
        for tester in testers:
            outcome = tester(commit)
            report.runs += 1
            if outcome != "pass":
                return outcome
        return "pass"

    evidence: Evidence[str] = Evidence(test)
    if evidence.run(prefixes[-1]) == "pass":
        return (len(prefixes), prefixes[-1]), None
    found = bisect_first_bad(prefixes, evidence)
    index = prefixes.index(found.first_bad)
    if index == 0 and evidence.ask(candidate.base) != "pass":
        raise LandRefused(f"the checks fail on {workspace.base_branch} itself "
                          f"({candidate.base[:10]}): fix the base first; nothing was landed")
    culprit = candidate.members[index]
    failing = next((t for t in testers if t.last_failure is not None), None)
    log = str(failing.last_failure.log_path) if failing and failing.last_failure else None
    check = failing.check.name if failing else "the checks"
    after = [m.agent for m in candidate.members[:index]]
    reason = (f"{check} fails once {culprit.agent} is added"
              f"{' on top of ' + ', '.join(after) if after else ''} (log: {log})")
    # The last agent's candidate was seen failing once only (a failure of an earlier prefix
    # is a second observation, in a second candidate): one re-run before blaming it.
    if index == len(prefixes) - 1 and evidence.run(found.first_bad) != "fail":
        reason = (f"flaky: {check} failed once {culprit.agent} was added, then passed on a "
                  f"re-run; look at the log ({log}) and land it again")
    landing = (index, prefixes[index - 1]) if index > 0 else None
    return landing, (culprit.agent, reason, log)


def _eject(store: Store, entry_id: int, agent: str, reason: str, log: str | None) -> None:
    queue.set_state(store, entry_id, queue.EJECTED, reason=reason, log=log)
    record_notice(store, EventKind.LAND_EJECTED, f"ejected {agent} from the landing queue: "
                  f"{reason}", title=f"gitwarden: {agent} not landed", agent=agent,
                  data={"reason": reason, "log": log}, dedup=f"land-ejected:{entry_id}")


def _untracked_in_the_way(workspace: Workspace, old: str, new: str) -> str | None:
    """Files of the main worktree (untracked or ignored) that the landing would overwrite."""
    main = next((w for w in workspace.worktrees if w.is_main), None)
    if main is None or main.branch != workspace.base_branch:
        return None
    added = run_git(["diff", "--name-only", "-z", "--no-renames", "--diff-filter=A", old, new],
                    main.path).stdout.decode("utf-8", "surrogateescape").split("\0")
    found = [p for p in added if p and os.path.lexists(main.path / p)]
    if not found:
        return None
    return (f"the main worktree {main.path} has untracked files the landing would overwrite "
            f"({', '.join(found[:3])}{' ...' if len(found) > 3 else ''}): move them away, "
            "then land again; nothing was landed")


def _follow_main_worktree(workspace: Workspace, old: str, new: str) -> str:
    """Move the main worktree's index and files from `old` to `new` (it was clean)."""
    main = next((w for w in workspace.worktrees if w.is_main), None)
    if main is None or main.branch != workspace.base_branch:
        return "not checked out"
    try:
        run_git(["read-tree", "-m", "-u", old, new], main.path)
    except GitError as exc:
        return (f"not updated ({exc.message}); bring it along with "
                f"`git -C {shlex.quote(str(main.path))} read-tree -m -u {old[:12]} {new[:12]}`")
    run_git(["update-index", "-q", "--refresh"], main.path, check=False)
    return "updated"
