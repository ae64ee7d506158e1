"""Several machines end to end: a real git server on 127.0.0.1, two clones with their own
agents, state, HOME/XDG dirs and real daemons exchanging presence, checkpoints and locks
through refs/gitwarden/ on the server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.helpers.daemon_state import conflicts_json, events_of
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.git_server import BASE_TEXT, git_server, gitwarden_refs, make_machine, user_refs
from tests.helpers.gitrepo import git, run_gitwarden, write

TEXT = BASE_TEXT


def overlap_with(main: Path, other: str) -> dict[str, Any] | None:
    for overlap in conflicts_json(main)["overlaps"]:
        if other in overlap["agents"]:
            return dict(overlap)
    return None


def test_same_file_on_two_machines_is_an_overlap_on_both(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        before = user_refs(server.url())
        one = make_machine(tmp_path, server, "m1", ("alpha",))
        two = make_machine(tmp_path, server, "m2", ("beta",))
        d1 = DaemonProcess(one.main, env=one.env)
        d2 = DaemonProcess(two.main, env=two.env)
        try:
            write(one.agents["alpha"], {"src/app.py": TEXT.replace("line 2", "alpha")})
            write(two.agents["beta"], {"src/app.py": TEXT.replace("line 2", "beta")})
            on_one = wait_until(lambda: overlap_with(one.main, "beta@m2"), 60,
                                "m1 saw no overlap with beta@m2", d1)
            on_two = wait_until(lambda: overlap_with(two.main, "alpha@m1"), 60,
                                "m2 saw no overlap with alpha@m1", d2)
            assert on_one["path"] == on_two["path"] == "src/app.py"
            # Predicted with the same in-memory merge, against the other machine's checkpoint.
            assert on_one["classification"] == on_two["classification"] == "conflict"
            status = json.loads(run_gitwarden("status", "--json", cwd=one.main,
                                              env=one.env).stdout)
            assert {"path": "src/app.py", "agents": ["alpha", "beta@m2"]} in status["overlaps"]
            remote = status["remote"]
            assert remote["machine"] == "m1"
            assert [(m["machine"], m["stale"]) for m in remote["machines"]] == [("m2", False)]
            assert remote["machines"][0]["agents"][0]["name"] == "beta@m2"
            # Only gitwarden's refs were written on the server, under refs/gitwarden/.
            shared = gitwarden_refs(server.bare())
            assert "refs/gitwarden/machines/m1/agents/alpha" in shared
            assert "refs/gitwarden/machines/m2/alive" in shared
            # Nothing fetched landed in the user's namespaces.
            local = git(one.main, "for-each-ref", "--format=%(refname)").split()
            assert not [r for r in local if r.startswith("refs/remotes/") and "gitwarden" in r]
            assert any(r.startswith("refs/gitwarden/remote/origin/machines/m2/") for r in local)
            # A different line on one side: the prediction turns into a clean merge.
            write(two.agents["beta"], {"src/app.py": TEXT.replace("line 8", "beta")})
            wait_until(lambda: (overlap_with(one.main, "beta@m2") or {}).get("classification")
                       == "clean-merge", 60, "m1 did not re-predict", d1)
        finally:
            d1.stop()
            d2.stop()
        assert user_refs(server.url()) == before


def test_lock_on_one_machine_is_refused_on_the_other_then_released_and_expired(
        tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        before = user_refs(server.url())
        one = make_machine(tmp_path, server, "m1", ("alpha",))
        two = make_machine(tmp_path, server, "m2", ("beta",))
        d2 = DaemonProcess(two.main, env=two.env)
        try:
            took = run_gitwarden("lock", "src/app.py", "--reason", "refunds", "--ttl", "10m",
                                 cwd=one.agents["alpha"], env=one.env)
            assert took.returncode == 0, took.stderr
            # The CLI on m2 asks the remote: refused, naming the holder and its machine.
            refused = run_gitwarden("lock", "src/app.py", cwd=two.agents["beta"], env=two.env)
            assert refused.returncode == 1
            assert "alpha@m1" in refused.stderr and "refunds" in refused.stderr
            # The hook on m2 reads the cache the daemon keeps fresh: denied.
            payload = json.dumps({"tool_name": "Edit", "cwd": str(two.agents["beta"]),
                                  "tool_input": {"file_path":
                                                 str(two.agents["beta"] / "src/app.py")}})

            def hook_denies() -> bool:
                out = run_gitwarden("hook", "claude", cwd=two.agents["beta"], env=two.env,
                                    input_text=payload).stdout
                return '"deny"' in out and "alpha@m1" in out

            wait_until(hook_denies, 60, "m2's hook did not deny", d2)
            # Released on m1: m2 gets it.
            assert run_gitwarden("unlock", "src/app.py", cwd=one.agents["alpha"],
                                 env=one.env).returncode == 0
            got = run_gitwarden("lock", "src/app.py", "--ttl", "2s", cwd=two.agents["beta"],
                                env=two.env)
            assert got.returncode == 0, got.stdout + got.stderr
            wait_until(lambda: not hook_denies(), 60, "m2's hook still denies its own lock", d2)
            # m2's lock expires: m1 takes it over (a lease on the expired commit).
            time.sleep(2.5)
            again = run_gitwarden("lock", "src/app.py", cwd=one.agents["alpha"], env=one.env)
            assert again.returncode == 0, again.stdout + again.stderr
        finally:
            d2.stop()
        assert user_refs(server.url()) == before


def test_lock_wait_across_machines(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = make_machine(tmp_path, server, "m1", ("alpha",))
        two = make_machine(tmp_path, server, "m2", ("beta",))
        assert run_gitwarden("lock", "db/schema.sql", "--ttl", "3s", cwd=one.agents["alpha"],
                             env=one.env).returncode == 0
        waited = run_gitwarden("lock", "db/schema.sql", "--wait", "60s",
                               cwd=two.agents["beta"], env=two.env)
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "locked 'db/schema.sql' for beta" in waited.stdout


def test_request_to_an_agent_on_another_machine_reaches_its_inbox_once(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = make_machine(tmp_path, server, "m1", ("alpha",))
        two = make_machine(tmp_path, server, "m2", ("beta",))
        d2 = DaemonProcess(two.main, env=two.env)
        try:
            sent = run_gitwarden("request", "--to", "beta@m2", "please release src/app.py",
                                 cwd=one.agents["alpha"], env=one.env)
            assert sent.returncode == 0, sent.stderr

            def inbox() -> list[dict[str, Any]]:
                proc = run_gitwarden("inbox", "--json", cwd=two.agents["beta"], env=two.env)
                return list(json.loads(proc.stdout)["requests"])

            got = wait_until(inbox, 60, "the request did not arrive", d2)
            assert [(r["from"], r["to"], r["text"]) for r in got] == \
                [("alpha@m1", "beta", "please release src/app.py")]
            wait_until(lambda: not gitwarden_refs(server.bare(), "refs/gitwarden/requests/"),
                       60, "the delivered request ref was not deleted", d2)
            d2.request("remote-sync")
            assert len(inbox()) == 1
        finally:
            d2.stop()


def test_stale_machine_is_shown_as_such_and_its_locks_are_ignored(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = make_machine(tmp_path, server, "m1", ("alpha",))
        two = make_machine(tmp_path, server, "m2", ("beta",))
        d1 = DaemonProcess(one.main, env=one.env)
        try:
            assert run_gitwarden("lock", "src/app.py", "--ttl", "none",
                                 cwd=one.agents["alpha"], env=one.env).returncode == 0
            wait_until(lambda: "refs/gitwarden/machines/m1/alive" in gitwarden_refs(
                server.bare()), 60, "no heartbeat from m1", d1)
            refused = run_gitwarden("lock", "src/app.py", cwd=two.agents["beta"], env=two.env)
            assert refused.returncode == 1
        finally:
            d1.stop()

        def m1_stale() -> bool:
            run_gitwarden("remote", "sync", cwd=two.main, env=two.env)
            report = json.loads(run_gitwarden("remote", "--json", cwd=two.main,
                                              env=two.env).stdout)
            return [(m["machine"], m["stale"]) for m in report["machines"]] == [("m1", True)]

        wait_until(m1_stale, 60, "m1 never shown as stale")
        text = run_gitwarden("status", cwd=two.main, env=two.env).stdout
        assert "machine m1 (STALE, locks ignored" in text
        took = run_gitwarden("lock", "src/app.py", cwd=two.agents["beta"], env=two.env)
        assert took.returncode == 0, took.stdout + took.stderr


def test_daemon_restart_does_not_announce_a_cross_machine_overlap_again(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        one = make_machine(tmp_path, server, "m1", ("alpha",))
        two = make_machine(tmp_path, server, "m2", ("beta",))
        d2 = DaemonProcess(two.main, env=two.env)
        d1 = DaemonProcess(one.main, env=one.env)
        try:
            write(one.agents["alpha"], {"src/app.py": TEXT.replace("line 2", "alpha")})
            write(two.agents["beta"], {"src/app.py": TEXT.replace("line 2", "beta")})
            wait_until(lambda: overlap_with(one.main, "beta@m2"), 60, "no overlap on m1", d1)
            d1.stop()
            d1 = DaemonProcess(one.main, env=one.env)
            assert d1.request("remote-sync")["ok"]
            d1.request("reconcile")
            assert overlap_with(one.main, "beta@m2")
            assert len(events_of(one.main, "overlap.opened")) == 1
            assert events_of(one.main, "overlap.resolved") == []
        finally:
            d1.stop()
            d2.stop()
