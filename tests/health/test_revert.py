"""Auto-revert regressions: one action per (agent, culprit), an undone revert is not redone,
runnable commands in the notifications, a revert racing with the agent's edits, a kill midway.

Real repositories, real worktrees, real check processes; the race and the kill are driven by a
real post-checkout hook that git runs while gitwarden writes the reverted files one by one.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pauses import is_paused
from gitwarden.health import service as health_service
from gitwarden.health import table as health_state
from gitwarden.store.db import Store
from tests.helpers.gitrepo import (
    RepoWithAgents,
    commit_all,
    git,
    run_gitwarden,
    unreachable_objects,
    write,
)
from tests.helpers.health_repo import agent_commits, events, head, setup_repo


def recent_bad_commit(alpha: Path, files: dict[str, str]) -> str:
    """A breaking commit dated now (auto-revert only reverts recent culprits)."""
    write(alpha, files)
    git(alpha, "add", "-A")
    git(alpha, "commit", "-q", "-m", "break the build", env={
        "GIT_COMMITTER_DATE": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return head(alpha)


def store_of(repo: RepoWithAgents) -> Store:
    return Store.open(Workspace.load(repo.main).repo)


def install_post_checkout(repo: RepoWithAgents, agent: Path, action: str) -> Path:
    """A one-shot post-checkout hook: on the first *file* checkout inside `agent`, run
    `action` (shell). Scratch worktrees and branch checkouts are left alone."""
    marker = repo.main.parent / "hook-fired"
    hooks = Path(git(repo.main, "rev-parse", "--git-common-dir").strip())
    if not hooks.is_absolute():
        hooks = repo.main / hooks
    hook = hooks / "hooks" / "post-checkout"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(
        "#!/bin/sh\n"
        '[ "$3" = 0 ] || exit 0\n'
        f'[ "$(pwd -P)" = {shlex.quote(str(agent.resolve()))} ] || exit 0\n'
        f"[ -e {shlex.quote(str(marker))} ] && exit 0\n"
        f"touch {shlex.quote(str(marker))}\n"
        f"{action}\n")
    hook.chmod(0o755)
    return marker


def test_undone_revert_is_never_redone_and_the_user_is_told(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert")
    alpha = repo.agents["alpha"]
    bad = recent_bad_commit(alpha, {"status.txt": "broken\n"})
    write(alpha, {"README.md": "wip\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, bad)
    reverted = head(alpha)
    assert reverted != bad
    (revert_event,) = events(repo, "health.revert")
    data = revert_event["data"]
    assert isinstance(data, dict)
    # the notification says what to do, with commands that run as printed
    assert "`gitwarden resume alpha`" in data["body"]
    assert "`gitwarden rollback alpha --undo --yes`" in data["body"]
    assert "stays paused" in data["body"]
    undo = shlex.split(data["undo"])
    assert undo[0] == "gitwarden"
    proc = run_gitwarden(*undo[1:], cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert head(alpha) == bad and (alpha / "README.md").read_text() == "wip\n"

    # what the daemon does next: the branch moved from the revert back to the culprit
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", reverted, bad)
    assert head(alpha) == bad
    assert (alpha / "status.txt").read_text() == "broken\n"
    with store_of(repo) as store:
        assert len(health_state.reverts(store, "alpha")) == 1
        assert is_paused(store, "alpha")
        latest = health_state.latest_verdicts(store, "alpha")[0]
    assert latest.culprit == bad and latest.action == "none"
    (known,) = events(repo, "health.culprit-known")
    data = known["data"]
    assert isinstance(data, dict) and data["notify"] is True
    assert "will not revert it again" in data["body"]
    assert "stays paused" in data["body"] and "`gitwarden resume alpha`" in data["body"]

    # a manual run, and a later commit on top, do not act either; the user is told once
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", reverted, bad)
    (later,) = agent_commits(alpha, {"more.txt": "more\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", bad, later)
    assert head(alpha) == later
    repeats = events(repo, "health.culprit-known")
    assert len(repeats) == 3
    assert sum(1 for e in repeats if e["data"].get("notify")) == 1  # type: ignore[union-attr]
    with store_of(repo) as store:
        assert len(health_state.reverts(store, "alpha")) == 1


def test_pause_policy_acts_once_per_culprit(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="pause")
    alpha = repo.agents["alpha"]
    (bad,) = agent_commits(alpha, {"status.txt": "broken\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, bad)
    (culprit_event,) = events(repo, "health.culprit")
    assert "`gitwarden resume alpha`" in culprit_event["data"]["body"]  # type: ignore[index]
    proc = run_gitwarden("resume", "alpha", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    # the user let it continue: the same culprit does not pause it again
    (later,) = agent_commits(alpha, {"x.txt": "x\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", bad, later)
    with store_of(repo) as store:
        assert not is_paused(store, "alpha")
    assert len(events(repo, "agent.paused")) == 1
    assert len(events(repo, "health.culprit")) == 1
    (known,) = events(repo, "health.culprit-known")
    assert "is not paused" in str(known["message"])
    # a new culprit is acted on
    (fixed,) = agent_commits(alpha, {"status.txt": "ok\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", later, fixed)
    (bad2,) = agent_commits(alpha, {"status.txt": "broken again\n"})
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", fixed, bad2)
    with store_of(repo) as store:
        assert is_paused(store, "alpha")
    assert len(events(repo, "health.culprit")) == 2


def test_revert_stops_when_the_agent_edits_a_reverted_path_meanwhile(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert")
    alpha = repo.agents["alpha"]
    bad = recent_bad_commit(alpha, {"src/app.py": "print('culprit')\n",
                                    "status.txt": "broken\n"})
    write(alpha, {"README.md": "wip\n"})
    # while gitwarden writes src/app.py (first of the sorted paths), the agent edits status.txt
    marker = install_post_checkout(repo, alpha, "printf 'agent edit\\n' > status.txt")
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, bad)
    assert marker.exists()
    # the agent's edit survives, the path already written is put back, the branch too
    assert (alpha / "status.txt").read_text() == "agent edit\n"
    assert (alpha / "src/app.py").read_text() == "print('culprit')\n"
    assert (alpha / "README.md").read_text() == "wip\n"
    assert head(alpha) == bad
    assert git(alpha, "diff", "--cached", "--name-only") == ""
    assert sorted(git(alpha, "diff", "--name-only").split()) == ["README.md", "status.txt"]
    with store_of(repo) as store:
        assert is_paused(store, "alpha")
        (row,) = health_state.reverts(store, "alpha")
        assert row["status"] == "aborted"
    refused = events(repo, "health.revert-refused")[-1]
    assert "status.txt changed while it was being reverted" in str(refused["message"])
    assert refused["data"]["notify"] is True  # type: ignore[index]
    assert "`gitwarden resume alpha`" in str(refused["message"])
    # nothing left to undo: the stopped revert is not an undoable rollback
    proc = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
    assert proc.returncode == 2 and "no rollback to undo" in proc.stderr


def test_a_kill_midway_is_recoverable_with_rollback_undo(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, policy="revert")
    alpha = repo.agents["alpha"]
    bad = recent_bad_commit(alpha, {"src/app.py": "print('culprit')\n",
                                    "status.txt": "broken\n"})
    write(alpha, {"README.md": "wip\n", "notes/new.txt": "untracked\n"})
    # gitwarden is killed (SIGKILL) right after it wrote the first reverted file
    kill = "kill -9 $(awk '{print $4}' /proc/$PPID/stat)"
    marker = install_post_checkout(repo, alpha, kill)
    proc = run_gitwarden("health", "alpha", "--run", cwd=repo.main)
    assert marker.exists()
    assert proc.returncode == -9, proc.stderr
    assert head(alpha) != bad  # the branch had moved, one file of two was written
    assert git(alpha, "rev-parse", "HEAD^").strip() == bad
    assert (alpha / "src/app.py").read_text() == "print('hi')\n"
    assert (alpha / "status.txt").read_text() == "broken\n"

    proc = run_gitwarden("rollback", "alpha", "--undo", "--yes", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert head(alpha) == bad
    assert (alpha / "src/app.py").read_text() == "print('culprit')\n"
    assert (alpha / "status.txt").read_text() == "broken\n"
    assert (alpha / "README.md").read_text() == "wip\n"
    assert (alpha / "notes/new.txt").read_text() == "untracked\n"
    assert git(alpha, "diff", "--cached", "--name-only") == ""
    # and the interrupted revert counts: the culprit is not reverted again automatically
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, bad)
    assert head(alpha) == bad


def test_health_json_shows_the_integration_result_and_agents(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, agents=("alpha", "beta", "gamma"),
                      check="! { test -e a.flag && test -e b.flag; }")
    agent_commits(repo.agents["alpha"], {"a.flag": "a\n"})
    agent_commits(repo.agents["beta"], {"b.flag": "b\n"})
    agent_commits(repo.agents["gamma"], {"c.txt": "c\n"})
    ran = run_gitwarden("health", "--run", "--integration", "--json", cwd=repo.main)
    assert ran.returncode == 1, ran.stderr
    assert sorted(json.loads(ran.stdout)["integration"]["culprits"]) == ["alpha", "beta"]
    shown = json.loads(run_gitwarden("health", "--json", cwd=repo.main).stdout)
    integration = shown["integration"]
    assert integration["verdict"] == "broken" and integration["check"] == "test"
    assert sorted(integration["agents"]) == ["alpha", "beta"]
    assert integration["merged"] == ["alpha", "beta", "gamma"]
    assert Path(integration["log"]).is_file()
    # asking about one of the agents named shows it too; an uninvolved one does not
    assert json.loads(run_gitwarden("health", "beta", "--json",
                                    cwd=repo.main).stdout)["integration"]["verdict"] == "broken"
    assert json.loads(run_gitwarden("health", "gamma", "--json",
                                    cwd=repo.main).stdout)["integration"] is None
    text = run_gitwarden("health", cwd=repo.main).stdout
    assert "integration" in text and "alpha+beta" in text
    # once the combination is fixed, the integration result is a pass (no stale failure)
    git(repo.agents["beta"], "rm", "-q", "b.flag")
    commit_all(repo.agents["beta"], "drop the flag")
    assert run_gitwarden("health", "--run", "--integration", cwd=repo.main).returncode == 0
    shown = json.loads(run_gitwarden("health", "--json", cwd=repo.main).stdout)
    assert shown["integration"]["verdict"] == "pass"
    assert {v["verdict"] for v in shown["results"] if v["agent"] == "integration"} == {"pass"}


def test_a_refused_revert_leaves_no_object_behind(tmp_path: Path) -> None:
    """The revert is planned in quarantine; refused (the agent has uncommitted work in the
    reverted path), none of its trees stays in the repository."""
    repo = setup_repo(tmp_path, policy="revert")
    alpha = repo.agents["alpha"]
    recent_bad_commit(alpha, {"status.txt": "broken\n"})
    (later,) = agent_commits(alpha, {"README.md": "later work\n"})
    write(alpha, {"status.txt": "the agent is fixing it\n"})
    before = unreachable_objects(repo.main)
    health_service.on_agent_commit(Workspace.load(alpha), "alpha", None, later)
    refused = events(repo, "health.revert-refused")[-1]
    assert "uncommitted changes in reverted path(s) status.txt" in str(refused["message"])
    assert head(alpha) == later
    assert unreachable_objects(repo.main) == before
