"""Journaled transactions over random sequences: every state that existed before a gitwarden
command is restorable byte-exact, through kills at any step (property test)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import journal, moves
from gitwarden.checkpoints.rollback import (
    find_checkpoint,
    recover_agent,
    rollback,
    undo_rollback,
)
from gitwarden.checkpoints.take import take_checkpoint
from gitwarden.coordination import pauses
from gitwarden.errors import GitwardenError
from gitwarden.store.db import Store
from tests.helpers.gitrepo import git, make_repo_with_agents
from tests.helpers.worktree_state import State, worktree_state

CAP = 1024  # max_untracked_size in these repositories: "big" files are cheap
PATHS = ["a.txt", "d/b.txt", "d/c.bin", "e.env", "d"]
CONTENTS = [b"small one\n", b"small two\n", b"B" * (CAP + 10), b"C" * (CAP * 3)]
STEPS = ["swap_branch", "write_index", "clear_unheld", "delete_paths", "write_paths",
         "restore_stashed"]


class _Killed(BaseException):
    """Stands for SIGKILL: nothing of gitwarden's error handling runs."""


@dataclass(frozen=True)
class Snapshot:
    files: State
    head: str
    index: str


def _snap(worktree: Path) -> Snapshot:
    return Snapshot(worktree_state(worktree), git(worktree, "rev-parse", "HEAD").strip(),
                    git(worktree, "ls-files", "-s"))


_edit = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(PATHS), st.sampled_from(CONTENTS)),
    st.tuples(st.just("delete"), st.sampled_from(PATHS)),
    st.tuples(st.just("ignore"), st.sampled_from(PATHS)),
    st.tuples(st.just("commit")),
    st.tuples(st.just("stage")),
    st.tuples(st.just("checkpoint")),
)
_kill = st.one_of(st.none(), st.tuples(st.sampled_from(STEPS), st.booleans()))
_command = st.one_of(
    st.tuples(st.just("rollback"), st.integers(0, 9), st.booleans(), _kill),
    st.tuples(st.just("undo"), st.booleans(), _kill),
)
_counter = itertools.count()


def _apply_edit(agent: Path, step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind in ("write", "delete"):
        target = agent / step[1]
        if (target.is_dir() and not target.is_symlink()) or target.parent.is_file():
            return  # a directory stays, a file is no directory: leave the path as it is
        target.unlink(missing_ok=True)
        if kind == "write":
            if not target.parent.is_dir():
                if target.parent.exists():
                    return
                target.parent.mkdir(parents=True)
            target.write_bytes(step[2])
    elif kind == "ignore":
        with open(agent / ".gitignore", "a") as handle:
            handle.write(f"{step[1]}\n")
    elif kind == "stage":
        git(agent, "add", "-A")
    elif kind == "commit":
        git(agent, "add", "-A")
        git(agent, "commit", "-qm", "step", "--allow-empty")


def _killing(monkeypatch: pytest.MonkeyPatch, kill: tuple[str, bool] | None) -> None:
    if kill is None:
        return
    name, after = kill
    real: Callable[..., None] = getattr(moves, name)

    def killed(*args: Any, **kwargs: Any) -> None:
        if after:
            real(*args, **kwargs)
        raise _Killed(name)

    monkeypatch.setattr(moves, name, killed)


# Small enough for CI on two cores; GITWARDEN_LONG_TESTS=1 runs a longer search.
EXAMPLES = 150 if os.environ.get("GITWARDEN_LONG_TESTS") else 12


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(st.tuples(st.lists(_edit, max_size=4), _command), min_size=2,
                       max_size=6))
def test_every_prior_state_is_restorable_through_kills(
        tmp_path: Path, rounds: list[tuple[list[tuple[Any, ...]], tuple[Any, ...]]]) -> None:
    repo = make_repo_with_agents(tmp_path / f"p{next(_counter)}", ["alpha"],
                                 files={"README.md": "r\n", ".gitignore": "*.log\n"})
    (repo.main / "gitwarden.toml").write_text(f'[checkpoints]\nmax_untracked_size = "{CAP}B"\n')
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    agent = workspace.agent("alpha")
    checkpoints = [take_checkpoint(workspace, "alpha", kind="manual").commit]
    # The model of the undo stack: the state before each rollback, and whether the worktree
    # was edited since (then only a later exact comparison is impossible, not a loss).
    stack: list[tuple[Snapshot, bool]] = []
    with Store.open(workspace.repo) as store:
        for edits, command in rounds:
            for edit in edits:
                _apply_edit(alpha, edit)
                if edit[0] == "checkpoint":
                    result = take_checkpoint(workspace, "alpha", kind="manual")
                    if result.commit:
                        checkpoints.append(result.commit)
            if edits:
                stack = [(snap, True) for snap, _ in stack]
            before = _snap(alpha)
            with pytest.MonkeyPatch.context() as patch:
                _killing(patch, command[-1])
                try:
                    if command[0] == "rollback":
                        target = find_checkpoint(workspace, store, agent,
                                                 checkpoints[command[1] % len(checkpoints)])
                        rollback(workspace, store, agent, target, include_unheld=command[2])
                    elif stack:
                        undo_rollback(workspace, store, agent, include_unheld=command[1])
                    else:
                        continue
                except _Killed:
                    pass
                except GitwardenError as exc:  # refused up front: nothing may have changed
                    assert _snap(alpha) == before, exc
                    continue
            recover_agent(workspace, store, agent)
            assert not journal.unfinished(store, "alpha")
            assert not pauses.is_paused(store, "alpha")
            finished = journal.entries(store, "alpha")[0]
            if command[0] == "rollback":
                if finished.phase == journal.DONE:
                    stack.append((before, False))
                else:  # killed, then rolled back by the recovery: exactly as before
                    assert _snap(alpha) == before
            else:
                assert finished.phase == journal.DONE  # an undo always completes
                expected, edited = stack.pop()
                if not edited:
                    assert _snap(alpha) == expected
        # Undo everything still on the stack, newest first: each state comes back.
        while stack:
            expected, edited = stack.pop()
            undo_rollback(workspace, store, agent)
            if not edited:
                assert _snap(alpha) == expected
