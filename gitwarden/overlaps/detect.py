"""Overlaps: paths that two or more agents have changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def find_overlaps(changed_sets: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Map each path changed by two or more agents to those agents (sorted)."""
    owners: dict[str, list[str]] = {}
    for agent, paths in changed_sets.items():
        for path in set(paths):
            owners.setdefault(path, []).append(agent)
    return {path: tuple(sorted(agents)) for path, agents in sorted(owners.items())
            if len(agents) > 1}
