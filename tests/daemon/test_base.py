"""The real daemon and the base: a base commit that conflicts with an agent's uncommitted work
shows in `status --json` and `conflicts` and is told once; stale agents are reported with the
count; `land --no-wait` and `done` with `[land] on_done` are landed by the daemon; `[sync] auto`
syncs an idle agent; `[base] remote` is fetched into its remote-tracking ref only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers.daemon_state import BASE, FAST, conflicts_json, events_of
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import (
    commit_all,
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)


def _status(cwd: Path) -> dict[str, Any]:
    proc = run_gitwarden("status", "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return {a["name"]: a for a in json.loads(proc.stdout)["agents"]}


def test_a_base_commit_conflicting_with_uncommitted_work_is_seen_and_told_once(
        tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha", "beta"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST})
    commit_all(repo.main, "config")
    for path in repo.agents.values():
        git(path, "merge", "-q", "--ff-only", "main")
    daemon = DaemonProcess(repo.main)
    try:
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 7\n", "alpha\n")})
        wait_until(lambda: daemon.request("status")["agents"][0]["changed"] == 1, 10,
                   "alpha's edit not tracked", daemon)
        write(repo.main, {"f.txt": BASE.replace("line 7\n", "base\n")})
        commit_all(repo.main, "base changes line 7")
        told = wait_until(lambda: events_of(repo.main, "base.conflict"), 10,
                          "no base.conflict event", daemon)
        assert told[0].agent == "alpha" and told[0].data["notify"]
        assert "f.txt" in told[0].message
        agents = _status(repo.main)
        assert agents["alpha"]["base"]["conflict"] is True
        assert agents["alpha"]["base"]["conflicts"][0]["hunks"][0]["alpha"] == [7, 7]
        assert agents["beta"]["base"] == {**agents["beta"]["base"], "behind": 1,
                                          "conflict": False, "rebase": "clean"}
        found = conflicts_json(repo.main)["base_conflicts"]
        assert [(c["agent"], c["path"]) for c in found] == [("alpha", "f.txt")]
        text = run_gitwarden("conflicts", cwd=repo.main).stdout
        assert "alpha vs main" in text and "base 7-7, alpha 7-7" in text
        table = run_gitwarden("status", cwd=repo.main).stdout
        assert "1 behind, conflict" in table
        # stale agents are reported with the count, once each
        stale = wait_until(lambda: len(events_of(repo.main, "base.stale")) == 2 and
                           events_of(repo.main, "base.stale"), 10, "no base.stale", daemon)
        assert {e.agent: e.data["behind"] for e in stale} == {"alpha": 1, "beta": 1}
        assert "beta is 1 commit(s) behind main" in next(e.message for e in stale
                                                         if e.agent == "beta")
        # the daemon's own view has it too
        live = {a["name"]: a for a in daemon.request("status")["agents"]}
        assert live["alpha"]["base"]["conflict"] is True
        # the same conflict after another base commit is not told again
        write(repo.main, {"other.txt": "x\n"})
        commit_all(repo.main, "more")
        wait_until(lambda: (daemon.request("status")["agents"][0]["base"] or {})
                   .get("behind") == 2, 10, "second base commit not seen", daemon)
        daemon.request("flush")
        assert len(events_of(repo.main, "base.conflict")) == 1
        assert len(events_of(repo.main, "base.stale")) == 2
        # STATE.md tells the agents
        state = wait_until(lambda: (repo.agents["beta"] / ".gitwarden" / "STATE.md").exists()
                           and "CONFLICTS with the base" in
                           (repo.agents["beta"] / ".gitwarden" / "STATE.md").read_text(), 10,
                           "STATE.md does not show the base conflict", daemon)
        assert state
    finally:
        assert daemon.stop() == 0


def test_the_daemon_lands_what_was_queued_and_syncs_idle_agents(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("a", "b", "c"), files={"f.txt": BASE})
    write(repo.main, {"gitwarden.toml": FAST + '[sync]\nauto = true\nidle = "1s"\n'
                      "[land]\non_done = true\n"})
    commit_all(repo.main, "config")
    for path in repo.agents.values():
        git(path, "merge", "-q", "--ff-only", "main")
    write(repo.agents["a"], {"a.txt": "a\n"})
    commit_all(repo.agents["a"], "a")
    write(repo.agents["b"], {"b.txt": "b\n"})
    commit_all(repo.agents["b"], "b")
    write(repo.agents["c"], {"c.txt": "c\n"})
    c_head = commit_all(repo.agents["c"], "c")
    daemon = DaemonProcess(repo.main)
    try:
        # `done` from the agent's own worktree queues it; the daemon lands it
        done = run_gitwarden("done", "-m", "finished", cwd=repo.agents["b"])
        assert done.returncode == 0 and "queued b for landing" in done.stdout, done.stderr
        proc = run_gitwarden("land", "a", "--no-wait", cwd=repo.main)
        assert proc.returncode == 0, proc.stderr
        wait_until(lambda: (repo.main / "a.txt").exists() and (repo.main / "b.txt").exists(),
                   20, "a and b not landed", daemon)
        queue = json.loads(run_gitwarden("queue", "--json", cwd=repo.main).stdout)["queue"]
        assert {e["agent"]: (e["state"], e["by"]) for e in queue} == \
            {"a": ("landed", "user"), "b": ("landed", "b")}
        assert git(repo.main, "status", "--porcelain", "--untracked-files=no") == ""
        # c is idle and behind with a clean rebase: the daemon syncs it
        base = git(repo.main, "rev-parse", "main").strip()
        # (a and b, landed, are brought up to the base too: a fast-forward)
        synced = wait_until(lambda: [e for e in events_of(repo.main, "sync.applied")
                                     if e.agent == "c" and e.data["base"] == base], 20,
                            "idle agent c not synced", daemon)
        assert git(repo.agents["c"], "rev-parse", "HEAD^").strip() == base
        assert (repo.agents["c"] / "a.txt").exists() and (repo.agents["c"] / "c.txt").exists()
        synced = [e for e in events_of(repo.main, "sync.applied") if e.agent == "c"]
        assert all(e.data["by"] == "daemon" for e in synced)
        assert git(repo.agents["c"], "rev-parse", synced[0].data["backup_ref"]).strip() == c_head
    finally:
        assert daemon.stop() == 0


def test_a_base_remote_is_fetched_into_its_remote_tracking_ref_only(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",), files={"f.txt": BASE})
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(server))
    git(repo.main, "remote", "add", "origin", str(server))
    git(repo.main, "push", "-q", "origin", "main")
    write(repo.main, {"gitwarden.toml": FAST + '[base]\nbranch = "main"\nremote = "origin"\n'
                      'fetch_interval = "5s"\n'})
    other = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(server), str(other))
    local_main = git(repo.main, "rev-parse", "main").strip()
    daemon = DaemonProcess(repo.main)
    try:
        write(other, {"f.txt": BASE.replace("line 3\n", "teammate\n")})
        commit_all(other, "teammate")
        git(other, "push", "-q", "origin", "HEAD:main")
        pushed = git(other, "rev-parse", "HEAD").strip()
        wait_until(lambda: git(repo.main, "rev-parse", "origin/main").strip() == pushed, 30,
                   "origin/main not fetched", daemon)
        assert git(repo.main, "rev-parse", "main").strip() == local_main  # untouched
        assert not (repo.main / ".git" / "FETCH_HEAD").exists()
        fetched = wait_until(lambda: events_of(repo.main, "base.fetched"), 10, "no event",
                             daemon)
        assert fetched[-1].data["to"] == pushed
        write(repo.agents["alpha"], {"f.txt": BASE.replace("line 3\n", "alpha\n")})
        agents = wait_until(lambda: (a := _status(repo.main))["alpha"]["base"]["conflict"]
                            and a, 10, "conflict with origin/main not seen", daemon)
        assert agents["alpha"]["base"]["commit"] == pushed
        wait_until(lambda: events_of(repo.main, "base.conflict"), 10, "not told", daemon)
    finally:
        assert daemon.stop() == 0
