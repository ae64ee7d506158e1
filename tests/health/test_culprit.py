"""Pure culprit logic: bisect, confirmation, the revert gate, combination search."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from gitwarden.health.culprit import (
    Evidence,
    bisect_first_bad,
    find_failing_set,
    investigate,
)
from gitwarden.health.outcomes import Outcome, classify_exit, combine, confirm


@pytest.mark.parametrize(("code", "timed_out", "expected"), [
    (0, False, "pass"), (1, False, "fail"), (2, False, "fail"), (124, False, "fail"),
    (125, False, "skip"), (126, False, "fail"), (127, False, "fail"), (-9, False, "fail"),
    (139, False, "fail"), (None, True, "fail"), (0, True, "fail"),
])
def test_exit_codes_follow_git_bisect_run(code: int | None, timed_out: bool,
                                          expected: Outcome) -> None:
    assert classify_exit(code, timed_out=timed_out) == expected


def test_combine_and_confirm() -> None:
    assert combine(["pass", "skip"]) == "skip"
    assert combine(["skip", "fail", "pass"]) == "fail"
    assert combine([]) == "pass"
    runs = iter(["fail", "pass"])
    assert confirm(lambda: next(runs)).verdict == "flaky"
    runs = iter(["fail", "fail"])
    assert confirm(lambda: next(runs)).outcomes == ("fail", "fail")
    assert confirm(lambda: "pass").outcomes == ("pass",)


def first_bad_at(bad: int) -> Callable[[int], Outcome]:
    return lambda commit: "fail" if commit >= bad else "pass"


@pytest.mark.parametrize("bad", range(16))
def test_bisect_names_the_first_bad_commit_in_log2_runs(bad: int) -> None:
    result = bisect_first_bad(list(range(16)), Evidence(first_bad_at(bad)))
    assert result.first_bad == bad
    assert result.candidates == (bad,)
    assert result.last_good == (bad - 1 if bad else None)
    assert result.runs <= 4


def test_bisect_skips_125_and_reports_the_ambiguity() -> None:
    def check(commit: int) -> Outcome:
        if commit in (4, 5):
            return "skip"
        return "fail" if commit >= 5 else "pass"

    result = bisect_first_bad(list(range(10)), Evidence(check))
    assert result.first_bad == 6
    assert set(result.candidates) == {4, 5, 6}
    assert result.last_good == 3
    # a skip next to a decided commit still finds the exact culprit
    exact = bisect_first_bad(list(range(10)),
                             Evidence(lambda c: "skip" if c == 2 else first_bad_at(7)(c)))
    assert exact.candidates == (7,)


def test_investigate_confirms_before_blaming() -> None:
    commits = list(range(8))
    assert investigate(commits, first_bad_at(99)).verdict == "pass"
    flips = iter(["fail", "pass"])
    flaky = investigate(commits, lambda c: next(flips))
    assert (flaky.verdict, flaky.runs, flaky.culprit) == ("flaky", 2, None)
    broken = investigate(commits, first_bad_at(3))
    assert (broken.verdict, broken.culprit, broken.last_good) == ("broken", 3, 2)
    assert broken.runs == 2 + 3  # detect + confirm + log2(8)
    assert not broken.revert_safe  # no gate asked for


def test_revert_gate_passes_a_deterministic_culprit() -> None:
    found = investigate(list(range(8)), first_bad_at(5), clean_point=-1, gate_runs=4)
    assert found.revert_safe and found.culprit == 5
    assert found.gate_runs == 5  # four re-runs of the culprit, one of its parent


def test_revert_gate_blocks_when_the_parent_fails_too() -> None:
    calls: list[int] = []

    def check(commit: int) -> Outcome:
        calls.append(commit)
        return "fail"

    # every commit fails, the clean point fails now too: not the agent's doing
    found = investigate([0, 1], check, clean_point=-1, gate_runs=2)
    assert calls.count(-1) == 1
    assert found.verdict == "flaky" and not found.revert_safe


def test_flaky_check_never_makes_a_good_commit_revertable() -> None:
    """100 trials of a check failing 30% of runs at random (seeded) on good commits."""
    rng = random.Random(20260101)
    confirmed = 0
    for trial in range(100):
        commits = [f"t{trial}c{i}" for i in range(rng.randint(1, 6))]
        found = investigate(commits, lambda _c: "fail" if rng.random() < 0.3 else "pass",
                            clean_point=f"t{trial}clean", gate_runs=4)
        confirmed += found.verdict == "broken"
        assert not found.revert_safe, f"trial {trial} would revert a good commit: {found}"
    # the one-re-run confirmation alone lets about 9% through (0.3 * 0.3): the gate matters
    assert confirmed < 100


def test_single_bad_agent_among_8_within_bound() -> None:
    agents = [f"agent{i}" for i in range(8)]
    for bad in agents:
        result = find_failing_set(agents, lambda s, bad=bad: "fail" if bad in s else "pass")
        assert result.members == (bad,)
        # + the run that found the failure = within ceil(log2 n) + 2
        assert result.runs + 1 <= math.ceil(math.log2(8)) + 2


def test_combination_of_two_agents_is_named() -> None:
    agents = ["a", "b", "c", "d", "e"]
    result = find_failing_set(agents, lambda s: "fail" if {"b", "d"} <= s else "pass")
    assert set(result.members or ()) == {"b", "d"}
    three = find_failing_set(agents, lambda s: "fail" if {"a", "c", "e"} <= s else "pass")
    assert set(three.members or ()) == {"a", "c", "e"}


def test_combination_search_does_not_blame_a_failure_that_does_not_reproduce() -> None:
    result = find_failing_set(["a", "b", "c"], lambda s: "pass")
    assert result.members is None
    assert find_failing_set([], lambda s: "fail").members is None


def test_before_blame_stops_the_search_without_a_culprit() -> None:
    commits = [f"c{i}" for i in range(8)]
    ran: list[str] = []

    def test(commit: str) -> Outcome:
        ran.append(commit)
        return "fail" if commit >= "c3" else "pass"

    found = investigate(commits, test, clean_point="base",
                        before_blame=lambda: ("base-broken", "the base fails too"))
    assert (found.verdict, found.culprit, found.reason) == ("base-broken", None,
                                                            "the base fails too")
    assert ran == ["c7", "c7"]  # detect + confirm, no bisection
    ran.clear()
    found = investigate(commits, test, before_blame=lambda: None)
    assert found.verdict == "broken" and found.culprit == "c3"
    ran.clear()
    assert investigate(commits, lambda c: "pass", before_blame=lambda: pytest.fail()).runs == 1
