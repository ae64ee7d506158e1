"""Culprit finding: which commit of an agent, or which combination of agents, broke a check.

Pure logic over opaque items (commit ids, sets of agent names) and a test callback that runs
the check and returns an Outcome. Every real run is counted; repeated questions are answered
from memory unless a re-run is asked for explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gitwarden.health.outcomes import Outcome, Verdict

T = TypeVar("T", bound=Hashable)
A = TypeVar("A", bound=Hashable)


@dataclass
class Evidence(Generic[T]):
    """Every run made so far, in order, with memoized answers."""

    test: Callable[[T], Outcome]
    log: list[tuple[T, Outcome]] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return len(self.log)

    def run(self, item: T) -> Outcome:
        """A real run, even if the item was tested before."""
        outcome = self.test(item)
        self.log.append((item, outcome))
        return outcome

    def ask(self, item: T) -> Outcome:
        """The last known outcome of item, running it only if it was never tested."""
        known = self.outcomes(item)
        return known[-1] if known else self.run(item)

    def outcomes(self, item: T) -> list[Outcome]:
        return [outcome for tested, outcome in self.log if tested == item]

    def mixed(self, item: T) -> bool:
        return len(set(self.outcomes(item))) > 1


@dataclass(frozen=True)
class BisectResult(Generic[T]):
    first_bad: T
    candidates: tuple[T, ...]  # more than one when skipped commits hide the exact culprit
    last_good: T | None  # None: the clean point before the first commit
    runs: int


def bisect_first_bad(commits: Sequence[T], evidence: Evidence[T]) -> BisectResult[T]:
    """The first bad commit of `commits` (oldest first; the last is known bad, the point
    before the first is known good), as `git bisect run` finds it: 125 skips a commit."""
    if not commits:
        raise ValueError("nothing to bisect")
    start = evidence.runs
    good, bad = -1, len(commits) - 1
    skipped: set[int] = set()
    while bad - good > 1:
        untested = [i for i in range(good + 1, bad) if i not in skipped]
        if not untested:
            break
        middle = (good + bad) // 2
        index = min(untested, key=lambda i: (abs(i - middle), i))
        outcome = evidence.ask(commits[index])
        if outcome == "fail":
            bad = index
        elif outcome == "pass":
            good = index
        else:
            skipped.add(index)
    candidates = tuple(commits[i] for i in range(good + 1, bad + 1)
                       if i == bad or i in skipped)
    return BisectResult(first_bad=commits[bad], candidates=candidates,
                        last_good=commits[good] if good >= 0 else None,
                        runs=evidence.runs - start)


@dataclass(frozen=True)
class Investigation(Generic[T]):
    """What one check says about an agent's commits since its last clean point."""

    verdict: Verdict
    culprit: T | None = None
    candidates: tuple[T, ...] = ()
    last_good: T | None = None
    runs: int = 0  # runs used to detect, confirm and name the culprit
    gate_runs: int = 0  # extra runs spent making sure before an automatic revert
    revert_safe: bool = False
    reason: str = ""


# Called between a confirmed failure and the bisection: a (verdict, reason) stops the search
# without blaming anyone (the failure is not the agent's: the base or the clean point fails).
Precheck = Callable[[], tuple[Verdict, str] | None]


def investigate(commits: Sequence[T], test: Callable[[T], Outcome], *,
                clean_point: T | None = None, gate_runs: int = 0,
                before_blame: Precheck | None = None) -> Investigation[T]:
    """Test the newest commit, confirm a failure with one re-run, ask `before_blame` whether
    the failure is someone else's, bisect, and (when
    `gate_runs` > 0, before an automatic revert) re-run the culprit up to `gate_runs` more
    times and its parent once: any disagreement means the check is flaky and nobody is blamed.
    """
    if not commits:
        return Investigation(verdict="pass", reason="no commits to check")
    evidence: Evidence[T] = Evidence(test)
    head = commits[-1]
    first = evidence.run(head)
    if first != "fail":
        return Investigation(verdict=first, runs=evidence.runs)
    if evidence.run(head) != "fail":
        return Investigation(verdict="flaky", runs=evidence.runs,
                             reason="the failure did not reproduce on a re-run")
    if before_blame is not None:
        elsewhere = before_blame()
        if elsewhere is not None:
            return Investigation(verdict=elsewhere[0], runs=evidence.runs, reason=elsewhere[1])
    found = bisect_first_bad(commits, evidence)
    runs = evidence.runs
    base = Investigation(verdict="broken", culprit=found.first_bad, candidates=found.candidates,
                         last_good=found.last_good, runs=runs)
    if gate_runs <= 0:
        return base
    if len(found.candidates) > 1:
        return _with(base, runs, evidence, reason="skipped commits hide the exact culprit")
    for _ in range(gate_runs):
        if evidence.run(found.first_bad) != "fail":
            return _with(base, runs, evidence, verdict="flaky",
                         reason="the culprit passed on a re-run: the check is flaky")
    parent = found.last_good if found.last_good is not None else clean_point
    if parent is not None and evidence.run(parent) != "pass":
        return _with(base, runs, evidence, verdict="flaky",
                     reason="the commit before the culprit failed too: the check is flaky")
    if any(evidence.mixed(item) for item, _ in evidence.log):
        return _with(base, runs, evidence, verdict="flaky",
                     reason="a commit gave different results on re-runs: the check is flaky")
    return _with(base, runs, evidence, revert_safe=True)


def _with(base: Investigation[T], runs: int, evidence: Evidence[T], *,
          verdict: Verdict | None = None, reason: str = "",
          revert_safe: bool = False) -> Investigation[T]:
    return Investigation(verdict=verdict or base.verdict, culprit=base.culprit,
                         candidates=base.candidates, last_good=base.last_good, runs=runs,
                         gate_runs=evidence.runs - runs, revert_safe=revert_safe, reason=reason)


@dataclass(frozen=True)
class SetSearch(Generic[A]):
    """The agents whose combination fails (None: the failure did not reproduce)."""

    members: tuple[A, ...] | None
    runs: int


def find_failing_set(items: Sequence[A],
                     test: Callable[[frozenset[A]], Outcome]) -> SetSearch[A]:
    """A minimal set of `items` whose combination fails, given that all of them together
    failed and none of them (the empty set) passes.

    First a halving search for the common case of one bad item (ceil(log2 n) runs, plus one to
    verify an inferred answer); if the answer does not hold alone, a minimal combination is
    searched (each member costs about log2 n runs). A set is named only after it was seen
    failing by itself, a second observation of the failure.
    """
    evidence: Evidence[frozenset[A]] = Evidence(test)
    pool = list(items)
    if not pool:
        return SetSearch(members=None, runs=0)
    single = _halving(pool, evidence)
    if single is not None:
        return SetSearch(members=(single,), runs=evidence.runs)
    members = _minimal_combination(pool, evidence)
    return SetSearch(members=members, runs=evidence.runs)


def _fails(group: Sequence[A], evidence: Evidence[frozenset[A]]) -> bool:
    return evidence.ask(frozenset(group)) == "fail"


def _halving(pool: list[A], evidence: Evidence[frozenset[A]]) -> A | None:
    group = pool
    observed = False  # whether `group` itself was seen failing (else inferred)
    while len(group) > 1:
        half = group[: len(group) // 2]
        if _fails(half, evidence):
            group, observed = half, True
        else:
            group, observed = group[len(half):], False
    if observed or _fails(group, evidence):
        return group[0]
    return None


def _minimal_combination(pool: list[A],
                         evidence: Evidence[frozenset[A]]) -> tuple[A, ...] | None:
    required: list[A] = []
    remaining = list(pool)  # invariant: required + remaining fails (first time: assumed)
    while remaining:
        if required and _fails(required, evidence):
            break
        good, bad = 0, len(remaining)  # required + remaining[:good] passes, [:bad] fails
        while bad - good > 1:
            middle = (good + bad) // 2
            if _fails([*required, *remaining[:middle]], evidence):
                bad = middle
            else:
                good = middle
        required.append(remaining[bad - 1])
        remaining = remaining[: bad - 1]
    if not required or not _fails(required, evidence):
        return None
    return tuple(required)
