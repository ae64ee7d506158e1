"""`[land] push = true` against a real git server on localhost with two clones (machines):
two machines landing at the same time both end up on the remote base, no commit lost, the
user's other branches and tags untouched; an unreachable remote or a local base the remote
lacks refuses the landing with one line and nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.git_server import GitServer, Machine, git_server, make_machine, user_refs
from tests.helpers.gitrepo import commit_all, git, run_gitwarden, write


def _config(check: str | None = None) -> str:
    text = "[land]\npush = true\n[health]\non_commit = false\n"
    if check:
        text += f"[health.checks]\ntest = {json.dumps(check)}\n"
    return text


def _barrier(sync: Path, mine: str, other: str) -> str:
    # Both checks run at once: each waits (bounded) until the other machine's check started,
    # so both candidates are built on the same remote base and both pushes race.
    return (f"touch {sync / mine}; n=0; while [ ! -e {sync / other} ] && [ $n -lt 600 ]; "
            "do sleep 0.05; n=$((n+1)); done; true")


def _land(machine: Machine, agent: str) -> dict[str, object]:
    proc = run_gitwarden("land", agent, "--json", cwd=machine.main, env=machine.env)
    assert proc.returncode == 0, proc.stderr
    report: dict[str, object] = json.loads(proc.stdout)
    return report


def _user_refs_but_base(server: GitServer) -> dict[str, str]:
    return {ref: oid for ref, oid in user_refs(server.url()).items()
            if ref not in ("HEAD", "refs/heads/main")}


def _assert_contains(repo: Path, rev: str, *commits: str) -> None:
    for commit in commits:
        git(repo, "merge-base", "--is-ancestor", commit, rev)  # raises when it is not


def test_two_machines_landing_at_once_both_land_on_the_remote(tmp_path: Path) -> None:
    sync = tmp_path / "sync"
    sync.mkdir()
    with git_server(tmp_path) as server:
        git(server.bare(), "branch", "feature", "main")
        one = make_machine(tmp_path, server, "m1", ("alpha",),
                           extra_config=_config(_barrier(sync, "m1", "m2")))
        two = make_machine(tmp_path, server, "m2", ("beta",),
                           extra_config=_config(_barrier(sync, "m2", "m1")))
        others = _user_refs_but_base(server)
        old = git(server.bare(), "rev-parse", "main").strip()
        write(one.agents["alpha"], {"alpha.txt": "from alpha\n"})
        alpha = commit_all(one.agents["alpha"], "alpha work")
        write(two.agents["beta"], {"beta.txt": "from beta\n"})
        beta = commit_all(two.agents["beta"], "beta work")

        procs = [subprocess.Popen([sys.executable, "-m", "gitwarden", "land", agent, "--json"],
                                  cwd=m.main, env={**os.environ, **m.env},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for m, agent in ((one, "alpha"), (two, "beta"))]
        results = [p.communicate(timeout=120) for p in procs]
        for proc, (_out, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, err
        reports = [json.loads(out) for out, _ in results]
        assert [r["landed"] for r in reports] == [["alpha"], ["beta"]]
        # Exactly one push lost the race (lease on the old remote base) and was rebuilt on the
        # other machine's landing and checked again.
        assert sorted(int(str(r["retries"])) for r in reports) == [0, 1]
        assert sorted(int(str(r["health_runs"])) for r in reports) == [1, 2]

        remote_base = git(server.bare(), "rev-parse", "main").strip()
        _assert_contains(server.bare(), remote_base, old, alpha, beta)  # nothing lost
        for commit in (alpha, beta):
            assert git(server.bare(), "branch", "--contains", commit, "--format=%(refname)",
                       "main").split() == ["refs/heads/main"]
        assert _user_refs_but_base(server) == others  # feature and v1 untouched
        # The loser's local base, remote-tracking ref and main worktree followed the remote.
        loser = one if reports[0]["retries"] else two
        assert git(loser.main, "rev-parse", "main").strip() == remote_base
        assert git(loser.main, "rev-parse", "refs/remotes/origin/main").strip() == remote_base
        assert (loser.main / "alpha.txt").read_text() == "from alpha\n"
        assert (loser.main / "beta.txt").read_text() == "from beta\n"
        assert git(loser.main, "status", "--porcelain", "--untracked-files=no") == ""


def test_unreachable_remote_refuses_in_one_line_and_changes_nothing(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = make_machine(tmp_path, server, "m1", ("alpha",), extra_config=_config())
        write(one.agents["alpha"], {"alpha.txt": "from alpha\n"})
        alpha = commit_all(one.agents["alpha"], "alpha work")
        refs_before = git(one.main, "for-each-ref", "--format=%(refname) %(objectname)")
        remote_before = user_refs(server.bare())
        server.stop()
        proc = run_gitwarden("land", "alpha", cwd=one.main, env=one.env)
        assert proc.returncode == 1, proc.stdout
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert "origin" in proc.stderr and "nothing was changed" in proc.stderr
        assert git(one.main, "for-each-ref", "--format=%(refname) %(objectname)") == refs_before
        assert not (one.main / "alpha.txt").exists()
        queue = json.loads(run_gitwarden("queue", "--json", cwd=one.main, env=one.env).stdout)
        assert queue["queue"] == []
        assert user_refs(server.bare()) == remote_before
        # Back online: the same landing goes through.
        server.start()
        report = _land(one, "alpha")
        assert report["landed"] == ["alpha"]
        remote_base = git(server.bare(), "rev-parse", "main").strip()
        _assert_contains(server.bare(), remote_base, alpha)
        assert git(one.main, "rev-parse", "main").strip() == remote_base


def test_remote_base_moved_before_the_landing_is_built_on_and_kept(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = make_machine(tmp_path, server, "m1", ("alpha",), extra_config=_config())
        two = make_machine(tmp_path, server, "m2", ("beta",), extra_config=_config())
        write(two.main, {"elsewhere.txt": "landed elsewhere\n"})
        git(two.main, "add", "elsewhere.txt")
        git(two.main, "commit", "-q", "-m", "landed elsewhere")
        elsewhere = git(two.main, "rev-parse", "HEAD").strip()
        git(two.main, "push", "-q", "origin", "main")
        write(one.agents["alpha"], {"alpha.txt": "from alpha\n"})
        alpha = commit_all(one.agents["alpha"], "alpha work")
        report = _land(one, "alpha")
        assert report["landed"] == ["alpha"]
        assert report["base"] == {"from": elsewhere,
                                  "to": git(server.bare(), "rev-parse", "main").strip()}
        _assert_contains(server.bare(), "main", elsewhere, alpha)
        assert report["main_worktree"] == "updated" and report["pushed_to"] == "origin/main"
        assert (one.main / "elsewhere.txt").read_text() == "landed elsewhere\n"
        landed_base = git(server.bare(), "rev-parse", "main").strip()
        assert git(one.main, "rev-parse", "main", "origin/main").split() == [landed_base] * 2


def test_local_base_with_unpushed_commits_refuses_before_pushing(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = make_machine(tmp_path, server, "m1", ("alpha",), extra_config=_config())
        git(one.main, "commit", "-q", "--allow-empty", "-m", "local only")
        write(one.agents["alpha"], {"alpha.txt": "from alpha\n"})
        commit_all(one.agents["alpha"], "alpha work")
        remote_before = user_refs(server.bare())
        local_before = git(one.main, "rev-parse", "main").strip()
        proc = run_gitwarden("land", "alpha", cwd=one.main, env=one.env)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert "not on origin/main" in proc.stderr and "git push origin main" in proc.stderr
        assert user_refs(server.bare()) == remote_before
        assert git(one.main, "rev-parse", "main").strip() == local_before


def test_local_base_moving_after_the_push_keeps_both(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = make_machine(tmp_path, server, "m1", ("alpha",), extra_config=_config())
        # The server's post-receive hook commits on m1's local base while m1's push is being
        # answered: between the remote advancing and the local compare-and-swap.
        hook = server.bare() / "hooks" / "post-receive"
        hook.write_text("#!/bin/sh\nunset GIT_DIR GIT_OBJECT_DIRECTORY "
                        "GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_QUARANTINE_PATH\n"
                        f"git -C {one.main} commit -q --allow-empty -m 'local meanwhile'\n")
        hook.chmod(0o755)
        write(one.agents["alpha"], {"alpha.txt": "from alpha\n"})
        alpha = commit_all(one.agents["alpha"], "alpha work")
        report = _land(one, "alpha")
        assert report["landed"] == ["alpha"] and report["retries"] == 0
        assert str(report["main_worktree"]).startswith("not updated: the local main moved")
        _assert_contains(server.bare(), "main", alpha)  # the landing is on the remote
        local = git(one.main, "log", "-1", "--format=%s", "main").strip()
        assert local == "local meanwhile"  # and the local commit was kept
        assert git(one.main, "rev-parse", "origin/main").strip() == \
            git(server.bare(), "rev-parse", "main").strip()
