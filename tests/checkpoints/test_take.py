"""`gitwarden checkpoint|checkpoints|prune`, clean marks and the facade used by others."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import rollback, take
from gitwarden.checkpoints.chain import lock_is_stale, read_chain
from gitwarden.checkpoints.rollback import prune
from gitwarden.checkpoints.take import (
    create_backup_ref,
    last_clean_commit,
    mark_clean,
    safety_checkpoint,
    take_checkpoint,
)
from gitwarden.store.db import Store
from tests.helpers.gitrepo import (
    RepoWithAgents,
    git,
    make_repo_with_agents,
    run_gitwarden,
    run_python,
    unreachable_objects,
    write,
)


@pytest.fixture
def repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path / "r", ["alpha", "beta"])


def chain_ids(worktree: Path, agent: str) -> list[str]:
    out = git(worktree, "rev-list", "--first-parent", f"refs/gitwarden/checkpoints/{agent}")
    return out.split()


def test_cli_checkpoint_prints_id_then_unchanged(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    write(alpha, {"new.txt": "new\n"})
    first = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
    assert first.returncode == 0, first.stderr
    commit = first.stdout.strip().removeprefix("alpha: ")
    assert git(alpha, "rev-parse", "refs/gitwarden/checkpoints/alpha").strip() == commit
    second = run_gitwarden("checkpoint", cwd=alpha)  # the agent of the current worktree
    assert second.stdout.strip() == f"alpha: unchanged ({commit[:10]})"
    both = run_gitwarden("checkpoint", "--all", "-m", "before refactor", "--json", cwd=repo.main)
    data = json.loads(both.stdout)
    assert [c["agent"] for c in data["checkpoints"]] == ["alpha", "beta"]
    assert data["checkpoints"][0]["status"] == "unchanged"
    assert data["checkpoints"][1]["status"] == "created"
    assert "before refactor" in git(repo.main, "log", "-1", "--format=%s",
                                    "refs/gitwarden/checkpoints/beta")
    assert git(repo.main, "branch", "--list").count("\n") == 3  # no branch clutter


def test_cli_listing_newest_first_with_clean_flag(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    write(alpha, {"a.txt": "1\n"})
    run_gitwarden("checkpoint", "alpha", "--clean", cwd=repo.main)
    write(alpha, {"a.txt": "2\n", "b.txt": "b\n"})
    run_gitwarden("checkpoint", "alpha", "-m", "second", cwd=repo.main)
    listing = run_gitwarden("checkpoints", "alpha", "--json", cwd=repo.main)
    items = json.loads(listing.stdout)["checkpoints"]
    assert [i["clean"] for i in items] == [False, True]
    assert items[0]["message"] == "checkpoint alpha: second"
    assert items[0]["files_changed"] == 2 and items[1]["files_changed"] == 1
    assert items[0]["head"] == git(alpha, "rev-parse", "HEAD").strip()
    text = run_gitwarden("checkpoints", cwd=repo.main).stdout
    assert text.splitlines()[0].split()[:7] == ["ID", "TIME", "AGENT", "HEAD", "FILES", "CLEAN",
                                                "MESSAGE"]
    assert "yes" in text.splitlines()[2]


@pytest.mark.parametrize("args", [
    ["checkpoint", "nosuch"],
    ["checkpoint", "alpha", "--all"],
    ["checkpoint", "--all", "--clean"],
    ["checkpoints", "nosuch"],
    ["checkpoints", "-n", "0"],
    ["rollback", "alpha", "--to", "deadbeef", "--dry-run"],
    ["rollback", "alpha", "--dry-run"],
    ["rollback", "alpha", "--undo", "--yes"],
    ["prune", "--keep", "0"],
])
def test_bad_input_is_one_line_and_non_zero(repo: RepoWithAgents, args: list[str]) -> None:
    proc = run_gitwarden(*args, cwd=repo.main)
    assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_mark_clean_and_last_clean_commit(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    assert last_clean_commit(workspace, "alpha") is None
    write(alpha, {"a.txt": "a\n"})
    checkpoint = take_checkpoint(workspace, "alpha")
    assert checkpoint.commit is not None
    head1 = git(alpha, "rev-parse", "HEAD").strip()
    mark_clean(workspace, "alpha", checkpoint.commit)
    assert last_clean_commit(workspace, "alpha") == head1  # the HEAD the checkpoint recorded
    c2 = _commit(alpha, "b.txt")
    c3 = _commit(alpha, "c.txt")
    mark_clean(workspace, "alpha", c3, source="health")
    mark_clean(workspace, "alpha", c2, source="health")  # an older commit marked later
    workspace = Workspace.load(repo.main)
    assert last_clean_commit(workspace, "alpha") == c3
    git(alpha, "reset", "-q", "--hard", c2)  # c3 is no longer on the branch
    workspace = Workspace.load(repo.main)
    assert last_clean_commit(workspace, "alpha") == c2
    assert last_clean_commit(workspace, "beta") is None


def _commit(worktree: Path, name: str) -> str:
    write(worktree, {name: name})
    git(worktree, "add", name)
    git(worktree, "commit", "-qm", name)
    return git(worktree, "rev-parse", "HEAD").strip()


def test_safety_checkpoint_and_backup_ref(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    write(alpha, {"wip.txt": "work in progress\n"})
    safety = safety_checkpoint(workspace, "alpha", reason="test")
    assert safety_checkpoint(workspace, "alpha", reason="again") == safety  # nothing new
    ref = create_backup_ref(workspace, "alpha", "before something")
    assert ref.startswith("refs/gitwarden/backups/alpha/")
    assert git(alpha, "rev-parse", ref).strip() == git(alpha, "rev-parse", "HEAD").strip()
    assert git(alpha, "rev-parse", ref + "-worktree").strip() == safety
    assert "wip.txt" in git(alpha, "ls-tree", "--name-only", safety)


def test_agent_remove_force_checkpoints_uncommitted_work(repo: RepoWithAgents) -> None:
    beta = repo.agents["beta"]
    write(beta, {"unsaved.txt": "precious\n"})
    refused = run_gitwarden("agent", "remove", "beta", cwd=repo.main)
    assert refused.returncode == 2 and beta.exists()
    proc = run_gitwarden("agent", "remove", "beta", "--force", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert not beta.exists()
    assert "saved the worktree as checkpoint" in proc.stdout
    assert git(repo.main, "show", "refs/gitwarden/checkpoints/beta:unsaved.txt") == "precious\n"


def test_concurrent_writers_never_lose_a_checkpoint(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    created: list[str] = []
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            workspace = Workspace.load(repo.main)
            for round_ in range(4):
                write(alpha, {f"w{index}-{round_}.txt": f"{index} {round_}\n"})
                result = take_checkpoint(workspace, "alpha", message=f"w{index}")
                if result.status == "created" and result.commit:
                    created.append(result.commit)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and created
    chain = chain_ids(alpha, "alpha")
    assert set(created) <= set(chain)  # every created checkpoint is on the one chain


def _refusals_of_other_threads(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once a thread other than the test's is refused a state lock (flock) it asked for."""
    refused = threading.Event()
    real_flock = fcntl.flock
    main = threading.current_thread()

    def flock(fd: int, operation: int) -> None:
        try:
            real_flock(fd, operation)
        except BlockingIOError:
            if threading.current_thread() is not main:
                refused.set()
            raise

    monkeypatch.setattr(fcntl, "flock", flock)
    return refused


def _join_or_see_it_wait(racer: threading.Thread, refused: threading.Event) -> None:
    """Lets the racer run until it ends (it won the race: no lock kept it out) or is seen
    refused the lock held here (it can only go on after this writer), 3 s at most."""
    deadline = time.monotonic() + 3
    while racer.is_alive() and not refused.is_set() and time.monotonic() < deadline:
        racer.join(timeout=0.01)


def test_a_checkpoint_racing_another_leaves_no_commit_behind(
        repo: RepoWithAgents, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another checkpoint of the same agent starts (a real one, in another thread) right
    after this one wrote its commit and before it moves the ref. Without one writer at a time
    the other one moves the ref first, and the commit written here loses the compare-and-swap
    and stays behind unreachable; with the chain lock the other one waits its turn."""
    alpha = repo.agents["alpha"]
    write(alpha, {"a.txt": "1\n"})
    assert take_checkpoint(Workspace.load(repo.main), "alpha").status == "created"
    before = unreachable_objects(repo.main)
    real = take.create_checkpoint_commit
    racers: list[threading.Thread] = []
    results: list[take.CheckpointResult] = []

    def racing_commit(*args: object, **kwargs: object) -> str:
        commit = real(*args, **kwargs)  # type: ignore[arg-type]
        if not racers:
            write(alpha, {"a.txt": "3\n"})
            racer = threading.Thread(target=lambda: results.append(
                take_checkpoint(Workspace.load(repo.main), "alpha")))
            racers.append(racer)
            racer.start()
            _join_or_see_it_wait(racer, refused)
        return commit

    refused = _refusals_of_other_threads(monkeypatch)
    monkeypatch.setattr(take, "create_checkpoint_commit", racing_commit)
    write(alpha, {"a.txt": "2\n"})
    first = take_checkpoint(Workspace.load(repo.main), "alpha")
    racers[0].join()
    assert first.status == "created" and results[0].status == "created"
    assert unreachable_objects(repo.main) == before
    chain = chain_ids(alpha, "alpha")
    assert chain[:2] == [results[0].commit, first.commit]  # in the order they took the lock
    assert git(alpha, "show", f"{chain[0]}:a.txt") == "3\n"


def test_prune_keeps_newest_and_clean_and_remaps(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    commits = []
    for i in range(6):
        write(alpha, {"f.txt": f"{i}\n"})
        result = take_checkpoint(workspace, "alpha", message=f"n{i}")
        assert result.commit
        commits.append(result.commit)
    mark_clean(workspace, "alpha", commits[0])
    with Store.open(workspace.repo) as store:
        dry = prune(workspace, store, workspace.agent("alpha"), keep=2, dry_run=True)
        assert (dry.kept, dry.dropped) == (3, 3)
        assert chain_ids(alpha, "alpha")[0] == commits[-1]
        result = prune(workspace, store, workspace.agent("alpha"), keep=2)
    assert (result.kept, result.dropped) == (3, 3)
    subjects = git(alpha, "log", "--first-parent", "--format=%s",
                   "refs/gitwarden/checkpoints/alpha").splitlines()
    assert subjects == ["checkpoint alpha: n5", "checkpoint alpha: n4", "checkpoint alpha: n0",
                        "initial"]
    import pygit2

    chain = read_chain(pygit2.Repository(str(alpha)), "alpha")
    assert chain[-1].commit == commits[0]  # older than every dropped one: id unchanged
    assert chain[0].original == commits[5] and chain[0].commit != commits[5]
    listing = json.loads(run_gitwarden("checkpoints", "alpha", "--json", cwd=repo.main).stdout)
    assert [i["clean"] for i in listing["checkpoints"]] == [False, False, True]
    assert git(alpha, "show", "refs/gitwarden/checkpoints/alpha:f.txt") == "5\n"
    cli = run_gitwarden("prune", "--keep", "1", "--keep-clean-days", "0", cwd=repo.main)
    assert cli.returncode == 0 and "alpha: kept 1, dropped 2" in cli.stdout


def test_a_prune_racing_a_checkpoint_leaves_no_rewritten_commit_behind(
        repo: RepoWithAgents, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint is taken (a real one, in another thread) while prune rewrites the chain.
    Without one chain writer at a time the checkpoint moves the ref first and the rewritten
    commits stay behind unreachable; with the chain lock the checkpoint waits its turn. What
    is unreachable afterwards is only what the prune dropped or re-created."""
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(repo.main)
    originals = []
    for i in range(4):
        write(alpha, {"f.txt": f"{i}\n"})
        originals.append(take_checkpoint(workspace, "alpha").commit)
    real = rollback.rewrite_chain
    racers: list[threading.Thread] = []

    def racing_rewrite(*args: object, **kwargs: object) -> object:
        rewritten = real(*args, **kwargs)  # type: ignore[arg-type]
        if not racers:
            write(alpha, {"f.txt": "racer\n"})
            racer = threading.Thread(target=lambda: take_checkpoint(Workspace.load(repo.main),
                                                                    "alpha"))
            racers.append(racer)
            racer.start()
            _join_or_see_it_wait(racer, refused)
        return rewritten

    refused = _refusals_of_other_threads(monkeypatch)
    monkeypatch.setattr(rollback, "rewrite_chain", racing_rewrite)
    with Store.open(workspace.repo) as store:
        result = prune(workspace, store, "alpha", keep=2, keep_clean_days=0)
    racers[0].join()
    unreachable = unreachable_objects(repo.main)
    commits = {oid for oid in unreachable if git(repo.main, "cat-file", "-t", oid).strip()
               == "commit"}
    assert commits <= set(originals)
    assert result.dropped == 2
    assert git(alpha, "show", "refs/gitwarden/checkpoints/alpha:f.txt") == "racer\n"


# --- errors that name the real cause (issue 11 case 6) ----------------------------------------

def test_stale_ref_lock_is_named_by_its_path(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    write(alpha, {"a.txt": "1\n"})
    assert run_gitwarden("checkpoint", "alpha", cwd=repo.main).returncode == 0
    lock = repo.main / ".git" / "refs" / "gitwarden" / "checkpoints" / "alpha.lock"
    lock.write_text("")
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    assert lock_is_stale(lock)
    write(alpha, {"a.txt": "2\n"})
    proc = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
    assert proc.returncode == 1
    assert str(lock) in proc.stderr and "is stale" in proc.stderr
    assert "kept changing" not in proc.stderr and "Traceback" not in proc.stderr
    # A fresh lock (a git process at work) is named too, not called stale.
    os.utime(lock, None)
    assert not lock_is_stale(lock)
    fresh = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
    assert fresh.returncode == 1 and str(lock) in fresh.stderr and "is stale" not in fresh.stderr
    lock.unlink()
    assert run_gitwarden("checkpoint", "alpha", cwd=repo.main).returncode == 0


KILLED_HOLDING_THE_REF_LOCK = r"""
import os, signal, sys
from pygit2.transaction import ReferenceTransaction
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
ReferenceTransaction.set_target = killed
from gitwarden.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_ref_lock_left_by_a_killed_checkpoint_does_not_block_the_next(
        repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    write(alpha, {"a.txt": "1\n"})
    assert run_gitwarden("checkpoint", "alpha", cwd=repo.main).returncode == 0
    write(alpha, {"a.txt": "2\n"})
    killed = run_python(KILLED_HOLDING_THE_REF_LOCK, "checkpoint", "alpha", cwd=repo.main)
    assert killed.returncode == -signal.SIGKILL
    lock = repo.main / ".git" / "refs" / "gitwarden" / "checkpoints" / "alpha.lock"
    assert lock.exists() and not lock_is_stale(lock)  # seconds old, not a minute
    proc = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert not lock.exists()
    tip = git(alpha, "show", "refs/gitwarden/checkpoints/alpha:a.txt")
    assert tip.strip() == "2"
    assert run_gitwarden("rollback", "alpha", "--recover", cwd=repo.main).returncode == 0
    assert git(repo.main, "fsck", "--no-dangling").strip() == ""


def test_a_ref_lock_the_killed_checkpoint_did_not_take_is_left_alone(
        repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    write(alpha, {"a.txt": "1\n"})
    assert run_gitwarden("checkpoint", "alpha", cwd=repo.main).returncode == 0
    write(alpha, {"a.txt": "2\n"})
    assert run_python(KILLED_HOLDING_THE_REF_LOCK, "checkpoint", "alpha",
                      cwd=repo.main).returncode == -signal.SIGKILL
    lock = repo.main / ".git" / "refs" / "gitwarden" / "checkpoints" / "alpha.lock"
    # Someone else's lock in its place (another git process): not gitwarden's to remove.
    lock.unlink()
    lock.write_text("")
    proc = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
    assert proc.returncode == 1 and str(lock) in proc.stderr
    assert lock.exists()


def test_lock_held_open_by_a_live_process_is_not_stale(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("")
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    with open(lock, "rb"):
        assert not lock_is_stale(lock)
    assert lock_is_stale(lock)


def test_unwritable_object_store_is_named(repo: RepoWithAgents) -> None:
    alpha = repo.agents["alpha"]
    objects = repo.main / ".git" / "objects"
    with _read_only(objects):
        write(alpha, {"new.txt": "new content\n"})
        proc = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
        assert proc.returncode == 1
        assert f"cannot write to the object store {objects}" in proc.stdout + proc.stderr
        assert "kept changing" not in proc.stdout + proc.stderr


@contextlib.contextmanager
def _read_only(directory: Path) -> Iterator[None]:
    """`directory` read-only (a read-only bind mount over itself) while the block runs."""
    mounted = subprocess.run(["mount", "--bind", str(directory), str(directory)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root): {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(directory)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def test_unwritable_object_store_skips_an_incremental_checkpoint(repo: RepoWithAgents) -> None:
    """A new file whose blob cannot be stored is never recorded as gone: with the file's
    blob lost, the tree would equal the previous one and pass as "unchanged"."""
    alpha = repo.agents["alpha"]
    objects = repo.main / ".git" / "objects"
    time.sleep(0.1)  # a base is recorded only when its inputs are older than the scan
    workspace = Workspace.load(repo.main)
    assert take_checkpoint(workspace, "alpha").status == "created"
    with _read_only(objects):
        write(alpha, {"new.txt": "new content\n"})
        for changed in (["new.txt"], None):  # the daemon's incremental path, then a full one
            result = take_checkpoint(workspace, "alpha", changed_paths=changed)
            assert result.status == "skipped", result
            assert f"cannot write to the object store {objects}" in (result.reason or "")
