"""Quarantined objects on a real repository: a merge tried in quarantine writes nothing into
the repository, reads still see everything, `keep` copies exactly what a kept commit needs,
and the directories of dead processes are swept."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pygit2

from gitwarden.git.objects import gitwarden_signature
from gitwarden.git.quarantine import keep, quarantine_root, quarantined, sweep_stale
from tests.helpers.gitrepo import (
    commit_all,
    git,
    loose_objects,
    make_repo_with_agents,
    unreachable_objects,
    write,
)

LINES = "".join(f"line {i}\n" for i in range(1, 21))


def _merge(repo: pygit2.Repository, ours: str, theirs: str) -> pygit2.Oid:
    ancestor = repo.merge_base(ours, theirs)
    index = repo.merge_trees(repo[ancestor].peel(pygit2.Tree), repo[ours].peel(pygit2.Tree),
                             repo[theirs].peel(pygit2.Tree))
    assert index.conflicts is None
    return index.write_tree(repo)


def _diverged(tmp_path: Path) -> tuple[Path, str, str]:
    """main and alpha edit the same file far apart: merging them writes a new blob."""
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": LINES})
    write(repo.agents["alpha"], {"f.txt": LINES.replace("line 1\n", "alpha\n")})
    alpha = commit_all(repo.agents["alpha"], "alpha")
    write(repo.main, {"f.txt": LINES.replace("line 20\n", "base\n")})
    main = commit_all(repo.main, "base")
    return repo.main, main, alpha


def test_a_merge_in_quarantine_leaves_nothing_in_the_repository(tmp_path: Path) -> None:
    main, ours, theirs = _diverged(tmp_path)
    loose_before, unreachable_before = loose_objects(main), unreachable_objects(main)
    repo = pygit2.Repository(str(main))
    with quarantined(repo) as scratch:
        tree = _merge(scratch, ours, theirs)
        merged = scratch[tree].peel(pygit2.Tree)["f.txt"]
        text = scratch[merged.id].peel(pygit2.Blob).data.decode()
        assert text.startswith("alpha\n") and text.endswith("base\n")
        assert not repo.odb.exists(tree)  # the repository's own handle does not see it
        directories = list(quarantine_root(main / ".git").iterdir())
        assert len(directories) == 1
    assert loose_objects(main) == loose_before
    assert unreachable_objects(main) == unreachable_before
    assert not directories[0].exists()


def test_keep_copies_what_a_kept_commit_needs_and_nothing_else(tmp_path: Path) -> None:
    main, ours, theirs = _diverged(tmp_path)
    repo = pygit2.Repository(str(main))
    loose_before = loose_objects(main)
    with quarantined(repo) as scratch:
        _merge(scratch, ours, ours)  # something else written in quarantine: not kept
        scratch.create_blob(b"a prediction nobody keeps\n")
        tree = _merge(scratch, ours, theirs)
        signature = gitwarden_signature()
        commit = str(scratch.create_commit(None, signature, signature, "candidate\n", tree,
                                           [pygit2.Oid(hex=ours)]))
        written = keep(scratch, repo, commit)
        assert keep(scratch, repo, commit) == 0  # already there
    assert written == 3  # the commit, its tree and the merged blob
    assert len(loose_objects(main) - loose_before) == 3
    git(main, "update-ref", "refs/heads/candidate", commit)
    git(main, "fsck", "--strict", "--no-progress")  # connected: nothing missing
    assert git(main, "show", "candidate:f.txt").startswith("alpha\n")
    assert unreachable_objects(main) == set()


def test_directories_of_dead_processes_are_swept(tmp_path: Path) -> None:
    main, _, _ = _diverged(tmp_path)
    root = quarantine_root(main / ".git")
    root.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (root / f"{dead}-abc" / "12").mkdir(parents=True)
    (root / f"{dead}-abc" / "12" / "3456").write_bytes(b"x")
    alive = root / f"{os.getpid()}-def"
    alive.mkdir()
    assert sweep_stale(main / ".git") == 1
    assert [p.name for p in root.iterdir()] == [alive.name]


def test_the_quarantine_lives_in_an_owner_only_state_dir(tmp_path: Path) -> None:
    main, _, _ = _diverged(tmp_path)
    state = main / ".git" / "gitwarden"
    assert not state.exists()
    with quarantined(pygit2.Repository(str(main))):
        assert state.stat().st_mode & 0o777 == 0o700
        assert (state / "quarantine").stat().st_mode & 0o777 == 0o700


def _kept_by_quarantines(repo: pygit2.Repository, ours: str, theirs: str, rounds: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _round in range(rounds):
            with quarantined(repo) as scratch:
                _merge(scratch, ours, theirs)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_quarantine_keeps_no_memory_and_reads_packed_objects(tmp_path: Path) -> None:
    """The daemon opens quarantines for months: pygit2's add_backend kept a reference to
    every backend it was given (an object and a path string each); the repository's objects,
    packed here, are all still read."""
    main, ours, theirs = _diverged(tmp_path)
    git(main, "repack", "-adq")
    loose_before, unreachable_before = loose_objects(main), unreachable_objects(main)
    repo = pygit2.Repository(str(main))
    _kept_by_quarantines(repo, ours, theirs, 5)  # caches of the first calls
    kept = _kept_by_quarantines(repo, ours, theirs, 300)
    assert kept < 16 * 1024, f"{kept} bytes kept by 300 quarantines"
    assert loose_objects(main) == loose_before  # every merge wrote into its quarantine
    assert unreachable_objects(main) == unreachable_before


def test_quarantines_at_once_get_their_own_directories(tmp_path: Path) -> None:
    """A directory is used again only once its quarantine is over: nested and concurrent
    questions never share one."""
    main, ours, theirs = _diverged(tmp_path)
    repo = pygit2.Repository(str(main))
    with quarantined(repo) as outer, quarantined(repo) as inner:
        tree = _merge(inner, ours, theirs)
        assert inner.odb.exists(tree) and not outer.odb.exists(tree)
        directories = sorted(quarantine_root(main / ".git").iterdir())
        assert len(directories) == 2
    with quarantined(repo) as again:
        assert not again.odb.exists(tree)  # the directory was emptied
        assert sorted(quarantine_root(main / ".git").iterdir()) == directories[:1]
