"""Retention of the state store: old rows go from every growing table, and nothing a decision
still needs (a clean checkpoint, an unresolved overlap, an open request, the newest verdict,
a revert in progress, the undo stack) goes with them. Real repositories, a real store; time
is moved by running retention "later" (`now`), never by waiting."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints import journal
from gitwarden.checkpoints import table as checkpoint_table
from gitwarden.checkpoints.rollback import find_checkpoint, rollback, undo_rollback
from gitwarden.checkpoints.take import mark_clean, take_checkpoint
from gitwarden.config import RetentionConfig
from gitwarden.coordination.requests import add_request, close_request, list_requests
from gitwarden.health import table as health_table
from gitwarden.overlaps import table as overlap_table
from gitwarden.store.db import Store, row_counts
from gitwarden.store.events import EventKind, list_events, record_event
from gitwarden.upkeep.retention import apply_retention
from tests.helpers.gitrepo import RepoWithAgents, commit_all, make_repo_with_agents, write

DAY = 86400.0


@pytest.fixture
def repo(tmp_path: Path) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path / "r", ["alpha", "beta"],
                                 files={"README.md": "hello\n", "src/app.py": "v1\n"})


def _workspace(repo: RepoWithAgents, **retention: object) -> Workspace:
    workspace = Workspace.load(repo.main)
    config = replace(workspace.config, retention=RetentionConfig(**retention))  # type: ignore[arg-type]
    return Workspace(repo=workspace.repo, config=config)


def test_old_history_goes_and_live_state_stays(repo: RepoWithAgents) -> None:
    workspace = _workspace(repo)
    alpha = repo.agents["alpha"]
    write(alpha, {"src/app.py": "clean state\n"})
    clean = take_checkpoint(workspace, "alpha")
    assert clean.commit is not None
    write(alpha, {"src/app.py": "later state\n"})
    assert take_checkpoint(workspace, "alpha").status == "created"
    with Store.open(workspace.repo) as store:
        mark_clean(workspace, "alpha", clean.commit, store, source="health")
        # beta: two branch commits marked clean, the older no checkpoint holds
        old_head = commit_all(repo.agents["beta"], "beta 1")
        checkpoint_table.add_clean_mark(store, "beta", old_head, kind="commit", head=old_head,
                                        ts=time.time() - 1)
        new_head = commit_all(repo.agents["beta"], "beta 2")
        checkpoint_table.add_clean_mark(store, "beta", new_head, kind="commit", head=new_head)
        for n in range(5):
            record_event(store, EventKind.CHECKPOINT_CREATED, f"event {n}")
        overlap_table.open_overlap(store, "gone.py", ["alpha", "beta"], "alpha", time.time())
        overlap_table.resolve_overlap(store, "gone.py", time.time())
        overlap_table.open_overlap(store, "still.py", ["alpha", "beta"], "alpha", time.time())
        closed = add_request(store, "alpha", "beta", "done already")
        close_request(store, closed.id, "beta")
        waiting = add_request(store, "alpha", "beta", "please rebase")
        for commit in ("c1" * 20, "c2" * 20):
            health_table.record_run(store, agent="beta", trigger="commit", check="test",
                                    commit=commit, tree=None, outcome="pass", exit_code=0,
                                    timed_out=False, duration=1.0, log_path=None)
            health_table.record_verdict(store, agent="beta", check="test", trigger="commit",
                                        commit=commit, verdict="pass")
        health_table.record_verdict(store, agent="beta", check="lint", trigger="commit",
                                    commit=old_head, verdict="pass")

        for _ in range(3):  # checked again and again: one of each result is enough
            health_table.record_run(store, agent="alpha", trigger="commit", check="lint",
                                    commit=old_head, tree=None, outcome="pass", exit_code=0,
                                    timed_out=False, duration=1.0, log_path=None)
        health_table.record_run(store, agent="alpha", trigger="commit", check="lint",
                                commit="c4" * 20, tree=None, outcome="pass", exit_code=0,
                                timed_out=False, duration=1.0, log_path=None)
        health_table.record_verdict(store, agent="beta", check="lint", trigger="commit",
                                    commit="c3" * 20, verdict="pass")
        health_table.record_revert(store, agent="beta", culprit="c1" * 20,
                                   revert_commit="r" * 40, previous_head="p" * 40,
                                   backup_ref=None, safety_checkpoint=None, status="done")
        health_table.record_revert(store, agent="beta", culprit="c2" * 20,
                                   revert_commit="s" * 40, previous_head="q" * 40,
                                   backup_ref=None, safety_checkpoint=None, status="started")
        health_table.claim_action(store, "beta", "c1" * 20, "revert")

        report = apply_retention(workspace.repo, workspace.config, store,
                                 now=time.time() + 40 * DAY)

        assert report.removed["events"] == 5
        assert [e.kind for e in list_events(store)] == [EventKind.STATE_PRUNED]
        assert [o.path for o in overlap_table.open_overlaps(store)] == ["still.py"]
        assert report.removed["overlaps"] == 1
        assert [r.id for r in list_requests(store, include_closed=True)] == [waiting.id]
        latest = {(v.check, v.commit) for v in health_table.latest_verdicts(store, "beta")}
        assert latest == {("test", "c2" * 20), ("lint", "c3" * 20)}
        history = {(v.check, v.commit) for v in health_table.verdict_history(store, "beta")}
        # the older lint verdict is of a clean-marked commit: kept; the older test one: gone
        assert history == latest | {("lint", old_head)}
        assert health_table.count_runs(store, agent="beta") == 1
        # the newest, and the newest on the clean-marked old_head
        assert health_table.count_runs(store, agent="alpha") == 2
        assert [r["status"] for r in health_table.reverts(store)] == ["started"]
        assert health_table.acted_on(store, "beta", "c1" * 20) is None
        marks = {(m.agent, m.commit) for m in checkpoint_table.clean_marks(store)}
        assert marks == {("alpha", clean.commit), ("beta", new_head)}
        # the clean checkpoint is still what a rollback goes back to
        target = find_checkpoint(workspace, store, workspace.agent("alpha"), None)
        assert target.commit == clean.commit


def test_a_row_cap_keeps_the_newest(repo: RepoWithAgents) -> None:
    workspace = _workspace(repo, max_rows=5)
    with Store.open(workspace.repo) as store:
        for n in range(20):
            record_event(store, EventKind.CHECKPOINT_CREATED, f"event {n}")
        report = apply_retention(workspace.repo, workspace.config, store)
        messages = [e.message for e in list_events(store) if e.kind != EventKind.STATE_PRUNED]
    assert report.removed["events"] == 15
    assert messages == [f"event {n}" for n in range(15, 20)]


def test_dry_run_counts_exactly_what_a_run_removes(repo: RepoWithAgents) -> None:
    workspace = _workspace(repo, max_rows=3)
    with Store.open(workspace.repo) as store:
        for n in range(10):
            record_event(store, EventKind.CHECKPOINT_CREATED, f"event {n}")
            overlap_table.open_overlap(store, f"f{n}.py", ["alpha", "beta"], "alpha", n)
            if n % 2:
                overlap_table.resolve_overlap(store, f"f{n}.py", n)
        later = time.time() + 31 * DAY
        before = row_counts(store)
        planned = apply_retention(workspace.repo, workspace.config, store, now=later,
                                  dry_run=True)
        after = row_counts(store)
        assert {k: after[k] for k in before if k != "schema_versions"} == \
            {k: v for k, v in before.items() if k != "schema_versions"}
        done = apply_retention(workspace.repo, workspace.config, store, now=later)
    assert planned.removed == done.removed
    assert planned.removed["events"] == 10 and planned.removed["overlaps"] == 5


def test_the_undo_stack_survives_retention_inside_the_undo_window(
        repo: RepoWithAgents) -> None:
    workspace = _workspace(repo, max_age=60.0, undo_window=7 * DAY)
    alpha = repo.agents["alpha"]
    write(alpha, {"src/app.py": "good\n"})
    good = take_checkpoint(workspace, "alpha", clean=True)
    write(alpha, {"src/app.py": "bad\n"})
    with Store.open(workspace.repo) as store:
        target = find_checkpoint(workspace, store, workspace.agent("alpha"), good.commit)
        rollback(workspace, store, "alpha", target)
        assert (alpha / "src/app.py").read_text() == "good\n"
        report = apply_retention(workspace.repo, workspace.config, store,
                                 now=time.time() + DAY)
        assert report.removed["rollbacks"] == report.removed["journal"] == 0
        undo_rollback(workspace, store, workspace.agent("alpha"))
        assert (alpha / "src/app.py").read_text() == "bad\n"
        # past the window the records go (an unfinished rollback would stay)
        report = apply_retention(workspace.repo, workspace.config, store,
                                 now=time.time() + 8 * DAY)
        assert report.removed["journal"] == 2  # the rollback and its undo
        assert journal.entries(store, "alpha") == []


def test_an_unfinished_rollback_is_never_pruned(repo: RepoWithAgents) -> None:
    workspace = _workspace(repo)
    with Store.open(workspace.repo) as store:
        checkpoint_table.record_rollback(store, agent="alpha", target="t" * 40,
                                         safety="s" * 40, backup_ref=None, old_head=None,
                                         new_head=None, branch="alpha", is_undo=False,
                                         completed=False)
        apply_retention(workspace.repo, workspace.config, store, now=time.time() + 400 * DAY)
        assert len(checkpoint_table.rollbacks(store, "alpha")) == 1


def test_retention_shrinks_the_file(repo: RepoWithAgents) -> None:
    workspace = _workspace(repo)
    with Store.open(workspace.repo) as store:
        for n in range(3000):
            record_event(store, EventKind.CHECKPOINT_CREATED, f"event {n} " + "x" * 200)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        grown = store.path.stat().st_size
        report = apply_retention(workspace.repo, workspace.config, store,
                                 now=time.time() + 31 * DAY)
    assert report.before.total >= grown
    assert store.path.stat().st_size < grown / 4
    assert report.after.total < report.before.total / 4


def test_gitwarden_prune_applies_retention_and_packs_objects(repo: RepoWithAgents) -> None:
    import json

    from tests.helpers.gitrepo import run_gitwarden

    write(repo.main, {"gitwarden.toml": "[retention]\nmax_rows = 2\n"})
    workspace = Workspace.load(repo.main)
    with Store.open(workspace.repo) as store:
        for n in range(6):
            record_event(store, EventKind.CHECKPOINT_CREATED, f"event {n}")
    dry = run_gitwarden("prune", "--dry-run", "--json", cwd=repo.main)
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["state"]["removed"]["events"] == 4
    assert planned["objects"]["status"] == "would-repack"
    proc = run_gitwarden("prune", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert "state: removed 4 row(s) (events 4)" in proc.stdout
    assert "objects: repacked; 0 loose" in proc.stdout
    only = run_gitwarden("prune", "alpha", "--json", cwd=repo.main)
    assert json.loads(only.stdout)["state"] is None


def test_old_health_logs_go_unless_a_kept_run_names_them(repo: RepoWithAgents) -> None:
    import os

    from gitwarden.health.runner import LOG_DIR

    workspace = _workspace(repo)
    log_dir = workspace.repo.ensure_state_dir() / LOG_DIR
    log_dir.mkdir()
    logs = {name: log_dir / f"{name}.log" for name in ("kept", "orphan", "recent")}
    for path in logs.values():
        path.write_text("output\n")
    old = time.time() - 40 * DAY
    os.utime(logs["kept"], (old, old))
    os.utime(logs["orphan"], (old, old))
    with Store.open(workspace.repo) as store:
        health_table.record_run(store, agent="alpha", trigger="commit", check="test",
                                commit="c" * 40, tree=None, outcome="pass", exit_code=0,
                                timed_out=False, duration=1.0, log_path=str(logs["kept"]))
        report = apply_retention(workspace.repo, workspace.config, store)
    assert report.removed["health_logs"] == 1
    assert sorted(p.name for p in log_dir.iterdir()) == ["kept.log", "recent.log"]
