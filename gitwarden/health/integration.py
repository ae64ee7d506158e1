"""The integration check: the base merged with every agent's head, built in memory and checked in
the scratch worktree; a failure is searched down to the smallest combination of agents that
breaks it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pygit2

from gitwarden.coordination.pauses import is_paused
from gitwarden.git.commits import (
    rev_parse_commit,
)
from gitwarden.git.objects import gitwarden_signature
from gitwarden.git.quarantine import keep, quarantined
from gitwarden.health import table as health_state
from gitwarden.health.culprit import find_failing_set
from gitwarden.health.outcomes import Outcome
from gitwarden.health.policy import (
    notify,
)
from gitwarden.health.results import (
    INTEGRATION,
    IntegrationHealth,
)
from gitwarden.health.tester import CommitTester
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind

if TYPE_CHECKING:
    from gitwarden.agents.model import Agent
    from gitwarden.agents.workspace import Workspace


def run_integration(workspace: Workspace, store: Store) -> IntegrationHealth:
    """The base merged with every agent head (in memory); a failure is narrowed down to the
    smallest combination of agents that fails."""

    checks = workspace.config.health.checks
    if not checks:
        return IntegrationHealth(verdict="none")
    repo = pygit2.Repository(str(workspace.repo.main_worktree))
    # merges and candidates are written in quarantine: only a candidate that is really
    # checked out is kept (then its scratch worktree's HEAD reaches it)
    with quarantined(repo) as scratch:
        return _integrate(workspace, store, repo, scratch)


def _integrate(workspace: Workspace, store: Store, repo: pygit2.Repository,
               scratch: pygit2.Repository) -> IntegrationHealth:
    checks = workspace.config.health.checks
    base = rev_parse_commit(workspace.repo.main_worktree, workspace.base_branch)
    heads, left_out = _merge_plan(scratch, store, base, workspace.agents)
    names = tuple(sorted(heads))
    if not names:
        return IntegrationHealth(verdict="none", left_out=left_out)
    cache: dict[frozenset[str], str | None] = {}

    def commit_for(members: frozenset[str]) -> str | None:
        if members not in cache:
            ordered = [heads[n] for n in names if n in members]
            tree = _merged_tree(scratch, base, ordered)
            cache[members] = None if tree is None else _integration_commit(scratch, base, tree,
                                                                         sorted(members))
        return cache[members]

    def ask(tester: CommitTester, commit: str) -> Outcome:
        return tester(commit, tree=str(scratch[commit].peel(pygit2.Commit).tree_id),
                      before_checkout=lambda: keep(scratch, repo, commit))

    full = commit_for(frozenset(names))
    if full is None:
        return IntegrationHealth(verdict="none", agents=names, left_out=left_out,
                                 check=None)
    total_runs = 0
    reused = True
    for check in checks:
        tester = CommitTester(workspace, store, check, None, INTEGRATION)
        first = ask(tester, full)
        total_runs += tester.real_runs
        reused = reused and tester.real_runs == 0
        if first != "fail":
            continue

        def test_set(members: frozenset[str], tester: CommitTester = tester) -> Outcome:
            commit = commit_for(members)
            return "skip" if commit is None else ask(tester, commit)

        before = tester.real_runs
        search = find_failing_set(names, test_set)
        total_runs += tester.real_runs - before
        log = str(tester.last_failure.log_path) if tester.last_failure else None
        if search.members is None:
            result = IntegrationHealth(verdict="flaky", check=check.name, agents=names,
                                       left_out=left_out, runs=total_runs, log_path=log)
        else:
            result = IntegrationHealth(verdict="broken", check=check.name, agents=names,
                                       culprits=tuple(sorted(search.members)), left_out=left_out,
                                       runs=total_runs, log_path=log)
        inputs = " ".join([base, *(f"{name}={heads[name]}" for name in names)])
        _report_integration(store, result, full, inputs)
        return result
    # with agents left out, a pass says nothing about them: partial
    verdict = "partial" if left_out else "pass"
    for check in checks:
        health_state.record_verdict(store, agent=INTEGRATION, check=check.name,
                                    trigger=INTEGRATION, commit=full, verdict=verdict,
                                    runs=total_runs, agents=names, cached=reused,
                                    left_out=left_out,
                                    detail=_left_out_text(left_out))
    return IntegrationHealth(verdict=verdict, agents=names, left_out=left_out, runs=total_runs,
                             cached=reused)


def _merge_plan(repo: Any, store: Store, base: str,
                agents: Sequence[Agent]) -> tuple[dict[str, str], dict[str, str]]:
    """The agent heads merged in ({name: head}) and the agents left out, with why: paused,
    conflicts with the base, conflicts with an agent merged before it (in name order)."""
    heads: dict[str, str] = {}
    left_out: dict[str, str] = {}
    for agent in sorted(agents, key=lambda a: a.name):
        if agent.head is None or not agent.exists:
            continue
        if agent.head == base or repo.descendant_of(base, agent.head):
            continue  # nothing to bring in
        if is_paused(store, agent.name):
            left_out[agent.name] = "paused"
            continue
        if _merged_tree(repo, base, [agent.head]) is None:
            left_out[agent.name] = "conflicts with the base"
            continue
        if heads and _merged_tree(repo, base, [*heads.values(), agent.head]) is None:
            clash = next((name for name, other in heads.items()
                          if _merged_tree(repo, base, [other, agent.head]) is None), None)
            left_out[agent.name] = (f"conflicts with agent {clash}" if clash else
                                    f"conflicts with agents {', '.join(heads)} together")
            continue
        heads[agent.name] = agent.head
    return heads, left_out


def _left_out_text(left_out: dict[str, str]) -> str:
    return "; ".join(f"{name} left out: {why}" for name, why in sorted(left_out.items()))


def _report_integration(store: Store, result: IntegrationHealth, commit: str,
                        inputs: str) -> None:
    """Record the verdict; tell the user once per finding: the same check failing with the
    same combination on the same base and agent heads (`inputs`) is one event, however many
    agent commits (or concurrent workers) ran into it."""

    check = result.check or ""
    finding = f"{result.verdict} {check} {'+'.join(result.culprits)} @ {inputs}"
    first = health_state.claim_action(store, INTEGRATION, finding, "notify")
    health_state.record_verdict(store, agent=INTEGRATION, check=check, trigger=INTEGRATION,
                                commit=commit, verdict=result.verdict,
                                culprit="+".join(result.culprits) or None,
                                candidates=result.culprits, runs=result.runs,
                                log_path=result.log_path,
                                action="notify" if first else "none (already reported)",
                                agents=result.agents, left_out=result.left_out,
                                detail=_left_out_text(result.left_out))
    if not first:
        return
    if result.verdict == "broken":
        who = " + ".join(result.culprits)
        together = "together " if len(result.culprits) > 1 else ""
        notify(store, EventKind.HEALTH_INTEGRATION,
               f"gitwarden: {who} {together}break {check}",
               f"the base merged with {who} fails {check}"
               f"{' although each passes alone' if len(result.culprits) > 1 else ''}; "
               f"{result.runs} health run(s) used. Log: {result.log_path}",
               agent=result.culprits[0] if len(result.culprits) == 1 else None,
               data={"agents": list(result.culprits), "check": check,
                     "log": result.log_path, "commit": commit})
    else:
        notify(store, EventKind.HEALTH_FLAKY, f"gitwarden: flaky integration check {check}",
               "the merged agents failed once but no combination failed again",
               agent=None, severity="warning", data={"check": check, "log": result.log_path})


def _merged_tree(repo: Any, base: str, heads: Sequence[str]) -> str | None:
    tree = repo[base].tree
    for head in heads:
        ancestor = repo.merge_base(base, head)
        ancestor_tree = repo[ancestor].tree if ancestor is not None else None
        index = repo.merge_trees(ancestor_tree, tree, repo[head].tree)
        if index.conflicts is not None:
            return None
        tree = repo[index.write_tree(repo)]
    return str(tree.id)


def _integration_commit(repo: Any, base: str, tree: str, members: list[str]) -> str:

    signature = gitwarden_signature()
    message = f"gitwarden integration: {base[:10]} + {', '.join(members)}\n"
    return str(repo.create_commit(None, signature, signature, message, pygit2.Oid(hex=tree),
                                  [pygit2.Oid(hex=base)]))
