"""Health checks on real repositories, real worktrees and real check processes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.health import service as health_service
from gitwarden.health import table as health_state
from gitwarden.health.results import status_fields
from gitwarden.health.runner import build_slot, scratch_root
from gitwarden.store.db import Store
from tests.helpers.daemonproc import wait_until
from tests.helpers.gitrepo import (
    commit_all,
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)
from tests.helpers.health_repo import CHECK, agent_commits, events, head, setup_repo

NOW_ENV = {"GIT_COMMITTER_DATE": "", "GIT_AUTHOR_DATE": ""}


def test_breaking_commit_is_found_paused_and_reverted(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert", agents=("alpha", "beta"))
    alpha = repo.agents["alpha"]
    good1, bad, good2 = agent_commits(alpha, {"one.txt": "1\n"}, {"status.txt": "broken\n"},
                                      {"two.txt": "2\n"})
    # the culprit must be recent (revert_max_age): give the commits the real time
    git(alpha, "commit", "-q", "--amend", "--no-edit", "--date=now", env={
        "GIT_COMMITTER_DATE": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    good2 = head(alpha)
    # uncommitted work elsewhere: a modified tracked file, a staged file, an untracked file
    write(alpha, {"README.md": "agent is editing\n", "notes/new.txt": "untracked\x00bytes\n",
                  "src/app.py": "print('staged')\n"})
    git(alpha, "add", "src/app.py")
    before = {p: (alpha / p).read_bytes() for p in ("README.md", "notes/new.txt", "src/app.py")}
    staged_before = git(alpha, "diff", "--cached", "--name-only")

    workspace = Workspace.load(alpha)
    health_service.on_agent_commit(workspace, "alpha", bad, good2)

    with Store.open(workspace.repo) as store:
        verdicts = health_state.verdict_history(store, "alpha")
        broken = [v for v in verdicts if v.verdict == "broken"]
        assert broken and broken[0].culprit == bad
        assert broken[0].runs >= 4 and broken[0].action == "revert"
        assert Path(broken[0].log_path or "").is_file()
        from gitwarden.coordination.pauses import is_paused
        assert is_paused(store, "alpha")
        revert_row = health_state.reverts(store, "alpha")[0]
    # the branch gained a revert commit of exactly the culprit
    new_head = head(alpha)
    assert git(alpha, "rev-parse", "HEAD^").strip() == good2
    assert f"This reverts commit {bad}." in git(alpha, "log", "-1", "--format=%B")
    assert (alpha / "status.txt").read_text() == "ok\n"
    assert git(alpha, "diff", "--name-only", "HEAD").split() == ["README.md", "src/app.py"]
    # other uncommitted work is byte-identical, staged work still staged
    assert {p: (alpha / p).read_bytes() for p in before} == before
    assert git(alpha, "diff", "--cached", "--name-only") == staged_before
    assert good1 in git(alpha, "rev-list", "HEAD")
    # the check passes again on the revert, and that was recorded
    with Store.open(workspace.repo) as store:
        latest = health_state.latest_verdicts(store, "alpha")
    assert [(v.commit, v.verdict) for v in latest] == [(new_head, "pass")]
    assert events(repo, "health.revert")[0]["data"]["revert_commit"] == new_head  # type: ignore
    # the pre-revert state is restorable: backup ref at the old HEAD, safety checkpoint holds
    # the dirty work too
    backup = revert_row["backup_ref"]
    assert git(alpha, "rev-parse", backup).strip() == good2
    safety = revert_row["safety_checkpoint"]
    assert git(alpha, "show", f"{safety}:README.md") == "agent is editing\n"
    assert git(alpha, "show", f"{safety}:status.txt") == "broken\n"
    # beta is untouched and the scratch worktree is no agent
    assert [a.name for a in Workspace.load(repo.main).agents] == ["alpha", "beta"]


def test_revert_is_undone_by_rollback_undo(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert")
    alpha = repo.agents["alpha"]
    (bad,) = agent_commits(alpha, {"status.txt": "broken\n"})
    git(alpha, "commit", "-q", "--amend", "--no-edit", env={
        "GIT_COMMITTER_DATE": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    bad = head(alpha)
    write(alpha, {"README.md": "wip\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, bad)
    assert head(alpha) != bad
    proc = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert head(alpha) == bad
    assert (alpha / "status.txt").read_text() == "broken\n"
    assert (alpha / "README.md").read_text() == "wip\n"


def test_pause_policy_names_culprit_and_leaves_the_agent_alone(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="pause")
    alpha = repo.agents["alpha"]
    commits = agent_commits(alpha, *({f"f{i}.txt": str(i)} for i in range(5)),
                            {"status.txt": "no\n"}, *({f"g{i}.txt": str(i)} for i in range(4)))
    write(alpha, {"README.md": "dirty\n"})
    index_before = (repo.main / ".git" / "worktrees" / "alpha" / "index").read_bytes()
    workspace = Workspace.load(alpha)
    health_service.on_agent_commit(workspace, "alpha", commits[-2], commits[-1])
    assert head(alpha) == commits[-1]
    assert (repo.main / ".git" / "worktrees" / "alpha" / "index").read_bytes() == index_before
    with Store.open(workspace.repo) as store:
        (verdict,) = health_state.latest_verdicts(store, "alpha")
        from gitwarden.coordination.pauses import is_paused
        assert is_paused(store, "alpha")
        fields = status_fields(store, "alpha")
    assert verdict.culprit == commits[5] and verdict.action == "pause"
    # detect + confirm + bisect of 10 commits
    assert verdict.runs <= 2 + 4
    assert fields["health"] == "broken" and fields["paused"] and fields["culprit"] == commits[5]
    (culprit_event,) = events(repo, "health.culprit")
    data = culprit_event["data"]
    assert data["notify"] is True and data["culprit"] == commits[5]  # type: ignore[index]


def test_notify_policy_event_names_agent_commit_check_and_log(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="notify")
    alpha = repo.agents["alpha"]
    (bad,) = agent_commits(alpha, {"status.txt": "bad\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, bad)
    (event,) = events(repo, "health.culprit")
    data = event["data"]
    assert isinstance(data, dict)
    assert data["notify"] is True and "alpha" in data["title"]
    assert bad[:10] in data["body"] and "test" in data["body"] and data["log"] in data["body"]
    assert "exit 1" in Path(data["log"]).read_text()
    assert not events(repo, "agent.paused")


def test_revert_refusals_keep_the_agent_paused_and_its_branch(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert")
    alpha = repo.agents["alpha"]
    # the culprit dates from 2026-01-01 (hermetic dates): older than revert_max_age here
    write(repo.main, {"gitwarden.toml": (repo.main / "gitwarden.toml").read_text()
                      .replace('"400d"', '"1h"')})
    (bad,) = agent_commits(alpha, {"status.txt": "broken\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, bad)
    assert head(alpha) == bad
    refusal = events(repo, "health.revert-refused")[-1]
    assert "old" in str(refusal["message"])


def test_revert_refused_when_a_reverted_path_has_uncommitted_changes(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert")
    alpha = repo.agents["alpha"]
    (bad,) = agent_commits(alpha, {"status.txt": "broken\n"})
    write(alpha, {"status.txt": "broken, being edited\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, bad)
    assert head(alpha) == bad
    assert (alpha / "status.txt").read_text() == "broken, being edited\n"
    assert "uncommitted changes in reverted path(s) status.txt" in \
        str(events(repo, "health.revert-refused")[-1]["message"])


def test_never_revert_a_revert_and_daily_cap(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert", extra="max_reverts_per_day = 0")
    alpha = repo.agents["alpha"]
    (bad,) = agent_commits(alpha, {"status.txt": "broken\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, bad)
    assert head(alpha) == bad
    assert "max_reverts_per_day" in str(events(repo, "health.revert-refused")[-1]["message"])

    import pygit2

    from gitwarden.health.revert_plan import RevertError, plan_revert
    git(alpha, "revert", "--no-edit", "HEAD")
    revert = head(alpha)
    with pytest.raises(RevertError, match="never revert a revert"):
        plan_revert(pygit2.Repository(str(alpha)), revert, [revert])


def test_timeout_fails_and_kills_the_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    pids = tmp_path / "background-pids"
    repo = setup_repo(tmp_path, policy="notify",
                      check=f"(sleep 3; touch {marker}) & echo $! >> {pids}; sleep 30")
    text = (repo.main / "gitwarden.toml").read_text()
    write(repo.main, {"gitwarden.toml": text.replace("[health]\n", "[health]\ntimeout = 0.3\n")})
    alpha = repo.agents["alpha"]
    (commit,) = agent_commits(alpha, {"x.txt": "x\n"})
    started = time.monotonic()
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, commit)
    with Store.open(Workspace.load(alpha).repo) as store:
        (verdict,) = health_state.latest_verdicts(store, "alpha")
    # a timeout is a failure: here the base times out too, so nobody is blamed
    assert verdict.verdict == "base-broken" and verdict.culprit is None
    assert "timed out" in Path(verdict.log_path or "").read_text()
    # The backgrounded toucher of each run went with its group: it can never touch the marker.
    for pid in pids.read_text().split():
        wait_until(lambda pid=pid: not _running(int(pid)), 3.5 - (time.monotonic() - started),
                   f"the check's background process {pid} survived the timeout")
    assert not marker.exists()


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan init has yet to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_skip_exit_code_and_passing_commit_marked_clean(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, check="test -e skip.txt && exit 125; grep -qx ok status.txt")
    alpha = repo.agents["alpha"]
    (commit,) = agent_commits(alpha, {"skip.txt": "1"})
    workspace = Workspace.load(alpha)
    health_service.on_agent_commit(workspace, "alpha", None, commit)
    with Store.open(workspace.repo) as store:
        assert health_state.latest_verdicts(store, "alpha")[0].verdict == "skip"
    git(alpha, "rm", "-q", "skip.txt")
    passing = commit_all(alpha, "unskip")
    health_service.on_agent_commit(workspace, "alpha", commit, passing)
    from gitwarden.checkpoints.take import last_clean_commit
    assert last_clean_commit(workspace, "alpha") == passing
    # an already-passed head is not run again
    with Store.open(workspace.repo) as store:
        runs = health_state.count_runs(store, "alpha")
        health_service.on_agent_commit(workspace, "alpha", commit, passing)
        assert health_state.count_runs(store, "alpha") == runs


def test_combination_breakage_names_both_agents(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, agents=("alpha", "beta", "gamma"),
                      check="! { test -e a.flag && test -e b.flag; }")
    agent_commits(repo.agents["alpha"], {"a.flag": "a\n"})
    agent_commits(repo.agents["beta"], {"b.flag": "b\n"})
    agent_commits(repo.agents["gamma"], {"c.txt": "c\n"})
    workspace = Workspace.load(repo.main)
    with Store.open(workspace.repo) as store:
        report = health_service.run_health(workspace, workspace.agents, store=store,
                                           integration=True)
    assert [a["verdict"] for a in report["agents"]] == ["pass", "pass", "pass"]
    integration = report["integration"]
    assert integration["verdict"] == "broken"
    assert sorted(integration["culprits"]) == ["alpha", "beta"]
    (event,) = events(repo, "health.integration")
    assert "alpha" in str(event["message"]) and "beta" in str(event["message"])


def test_flaky_check_with_real_processes_reverts_nothing(tmp_path: Path) -> None:
    """A few real-process trials; tests/health/test_culprit.py runs the 100 seeded trials."""
    counter = tmp_path / "counter"
    script = tmp_path / "flaky.py"
    script.write_text(
        "import random, sys\n"
        f"path = {str(counter)!r}\n"
        "n = int(open(path).read()) if __import__('os').path.exists(path) else 0\n"
        "open(path, 'w').write(str(n + 1))\n"
        "sys.exit(1 if random.Random(1234 + n).random() < 0.3 else 0)\n")
    repo = setup_repo(tmp_path, policy="revert", check=f"python3 {script}")
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(alpha)
    for trial in range(6):
        (commit,) = agent_commits(alpha, {f"t{trial}.txt": "good\n"})
        health_service.on_agent_commit(workspace, "alpha", None, commit)
        assert head(alpha) == commit
    with Store.open(workspace.repo) as store:
        assert health_state.reverts(store, "alpha") == []
    assert int(counter.read_text()) >= 6


def test_health_config_edit_on_a_branch_is_reported_and_ignored(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    alpha = repo.agents["alpha"]
    text = (alpha / "gitwarden.toml").read_text().replace(CHECK, "true")
    (commit,) = agent_commits(alpha, {"gitwarden.toml": text, "status.txt": "bad\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, commit)
    assert "edited the health checks" in str(events(repo, "health.config-edited")[0]["message"])
    assert events(repo, "health.culprit")  # the main worktree's check still ran


def test_scratch_worktree_is_reused_and_slots_are_exclusive(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, extra="parallel = 2")
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(alpha)
    for number in range(2):
        (commit,) = agent_commits(alpha, {f"n{number}.txt": "x"})
        health_service.on_agent_commit(workspace, "alpha", None, commit)
    scratch = workspace.repo.state_dir / "scratch" / "0"
    assert scratch.parent == Path(scratch_root(workspace.repo))
    listed = git(repo.main, "worktree", "list", "--porcelain")
    assert listed.count("/gitwarden/scratch/") == 1
    assert git(scratch, "rev-parse", "HEAD").strip() == head(alpha)
    with build_slot(workspace.repo, 2) as first, build_slot(workspace.repo, 2) as second:
        assert {first.number, second.number} == {0, 1}


def test_health_cli(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="notify", agents=("alpha", "beta"))
    agent_commits(repo.agents["alpha"], {"status.txt": "bad\n"})
    proc = run_gitwarden("health", "--run", "--json", cwd=repo.main)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    verdicts = {a["agent"]: a["verdict"] for a in report["agents"]}
    assert verdicts == {"alpha": "broken", "beta": "pass"}
    shown = run_gitwarden("health", cwd=repo.main)
    assert shown.returncode == 0
    assert "broken" in shown.stdout and "alpha" in shown.stdout
    as_json = json.loads(run_gitwarden("health", "alpha", "--json", cwd=repo.main).stdout)
    assert as_json["agents"]["alpha"]["health"] == "broken"
    for bad_args, code in ((["health", "nobody"], 2), (["health", "--integration"], 2),
                           (["health", "--frobnicate"], 2)):
        proc = run_gitwarden(*bad_args, cwd=repo.main)
        assert proc.returncode == code
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert run_gitwarden("health", "--help", cwd=repo.main).stdout.count("gitwarden health") >= 3


def test_health_run_without_checks_is_a_usage_error(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    proc = run_gitwarden("health", "--run", cwd=repo.main)
    assert proc.returncode == 2 and "no health checks configured" in proc.stderr
    assert os.path.isdir(repo.main)


def test_checkpoint_checks_mark_clean_or_report_work_in_progress(tmp_path: Path) -> None:
    from gitwarden.checkpoints.table import clean_marks
    from gitwarden.checkpoints.take import take_checkpoint

    repo = setup_repo(tmp_path, policy="revert")
    alpha = repo.agents["alpha"]
    workspace = Workspace.load(alpha)
    write(alpha, {"wip.txt": "fine\n"})
    good = take_checkpoint(workspace, "alpha").commit
    assert good is not None
    health_service.on_checkpoint(workspace, "alpha", good)
    with Store.open(workspace.repo) as store:
        assert any(mark.kind == "checkpoint" for mark in clean_marks(store, "alpha"))
    write(alpha, {"status.txt": "half-edited\n"})
    bad = take_checkpoint(workspace, "alpha").commit
    assert bad is not None and bad != good
    health_service.on_checkpoint(workspace, "alpha", bad)
    (event,) = events(repo, "health.fail")
    assert "work in progress" in str(event["message"])
    # work in progress is never reverted: files and HEAD untouched, nobody paused
    assert (alpha / "status.txt").read_text() == "half-edited\n"
    assert not events(repo, "agent.paused")
