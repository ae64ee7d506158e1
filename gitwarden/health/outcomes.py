"""Health check outcomes: exit codes read the way `git bisect run` reads them, and the
one-re-run confirmation rule. Pure logic: no processes, no git."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["pass", "fail", "skip"]
# base-broken: the check fails on the base too; preexisting: it fails at the agent's clean
# point too. Neither blames the agent.
Verdict = Literal["pass", "skip", "flaky", "broken", "base-broken", "preexisting"]

SKIP_EXIT_CODE = 125


def classify_exit(returncode: int | None, *, timed_out: bool = False) -> Outcome:
    """0 passes, 125 is undecidable, any other code (or a timeout, or a signal) fails."""
    if timed_out or returncode is None:
        return "fail"
    if returncode == 0:
        return "pass"
    if returncode == SKIP_EXIT_CODE:
        return "skip"
    return "fail"


def combine(outcomes: Iterable[Outcome]) -> Outcome:
    """The outcome of several checks on one snapshot: any failure fails, then any skip skips."""
    seen = set(outcomes)
    if "fail" in seen:
        return "fail"
    if "skip" in seen:
        return "skip"
    return "pass"


@dataclass(frozen=True)
class Confirmation:
    """A first run and, after a failure, exactly one re-run."""

    verdict: Verdict
    outcomes: tuple[Outcome, ...]


def confirm(run: Callable[[], Outcome]) -> Confirmation:
    """Run once; re-run a failure once. Two failures are broken, fail-then-other is flaky.

    Never retry until green: a failure that does not reproduce is reported as flaky, not hidden.
    """
    first = run()
    if first != "fail":
        return Confirmation(verdict=first, outcomes=(first,))
    second = run()
    verdict: Verdict = "broken" if second == "fail" else "flaky"
    return Confirmation(verdict=verdict, outcomes=(first, second))
