"""Landing candidates: the base plus queued agents, in order, built as commits in the object
database only (`git merge-tree --write-tree` for merge and squash, an in-memory replay for
rebase). No worktree, index, HEAD or ref is read or written: the first landed commit exists
only once the base ref moves to it. A candidate that is only shown (`land --dry-run`) is built
in a quarantine and leaves no object behind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from gitwarden.git.merges import commit_tree, commits_between, merge_tree
from gitwarden.git.quarantine import divert_writes, git_env_for
from gitwarden.git.runner import run_git
from gitwarden.overlaps.replay import replay


@dataclass(frozen=True)
class Member:
    """One queued agent: its name, branch and the head that was queued."""

    agent: str
    branch: str | None
    head: str
    strategy: str


@dataclass(frozen=True)
class Candidate:
    """`prefixes[i]`: the base plus members[0..i] (those that merged); `ejected`: members that
    conflict with what comes before them, with the conflicting paths."""

    base: str
    members: tuple[Member, ...]
    prefixes: tuple[str, ...]
    ejected: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def commit(self) -> str:
        return self.prefixes[-1] if self.prefixes else self.base


def build_candidate(common_dir: Path, base: str, members: Sequence[Member],
                    base_name: str, *, quarantine: Path | None = None) -> Candidate:
    """Stack each member on the previous result; a member that conflicts is left out. With
    `quarantine` (a gitwarden.git.quarantine directory) every object is written there."""
    repo = pygit2.Repository(str(common_dir))
    env = None
    if quarantine is not None:
        divert_writes(repo, quarantine)
        env = git_env_for(quarantine, common_dir)
    current = base
    kept: list[Member] = []
    prefixes: list[str] = []
    ejected: dict[str, tuple[str, ...]] = {}
    for member in members:
        result = _add(repo, common_dir, current, member, base_name, env)
        if isinstance(result, tuple):
            ejected[member.agent] = result
            continue
        current = result
        kept.append(member)
        prefixes.append(current)
    return Candidate(base=base, members=tuple(kept), prefixes=tuple(prefixes), ejected=ejected)


def _add(repo: pygit2.Repository, cwd: Path, onto: str, member: Member,
         base_name: str, env: Mapping[str, str] | None) -> str | tuple[str, ...]:
    """The commit of `onto` + member, or the paths that conflict."""
    if member.strategy == "rebase":
        built = replay(repo, commits_between(cwd, onto, member.head, env), onto, create=True)
        return built.head if built.head is not None else built.conflicts
    merged = merge_tree(cwd, onto, member.head, env)
    if merged.tree is None:
        return merged.conflicts
    branch = member.branch or member.agent
    if member.strategy == "squash":
        subjects = run_git(["log", "--format=- %s", f"{onto}..{member.head}"],
                           cwd, env=env).stdout.decode("utf-8", "replace")
        message = f"{branch}: work of agent {member.agent} (squashed)\n\n{subjects}"
        return commit_tree(cwd, merged.tree, [onto], message, env)
    message = f"Land {branch} (agent {member.agent}) on {base_name}\n"
    return commit_tree(cwd, merged.tree, [onto, member.head], message, env)
