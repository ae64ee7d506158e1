"""A remote that goes away and comes back: local work goes on, remote state is shown as
unknown, locks taken meanwhile are local-only, and on reconnect the remote's compare-and-swap
settles conflicting claims (the loser is told); no lock and no checkpoint is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.git_server import BASE_TEXT, git_server, gitwarden_refs, make_machine, user_refs
from tests.helpers.gitrepo import git, run_gitwarden, write


def locks_of(main: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = run_gitwarden("locks", "--json", cwd=main, env=env)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)["locks"]
    return {lock["pattern"] + "|" + lock["agent"]: lock for lock in found}


def remote_state(main: Path, env: dict[str, str]) -> str:
    status = json.loads(run_gitwarden("status", "--json", cwd=main, env=env).stdout)
    return str(status["remote"]["state"])


def lock_holders(bare: Path) -> list[str]:
    holders = []
    for _ref, oid in sorted(gitwarden_refs(bare, "refs/gitwarden/locks/").items()):
        body = git(bare, "cat-file", "commit", oid).partition("\n\n")[2].partition("\n\n")[2]
        data = json.loads(body)
        holders.append(f"{data['pattern']}:{data['agent']}@{data['machine']}")
    return sorted(holders)


def test_remote_away_and_back_loses_no_lock_and_no_checkpoint(tmp_path: Path) -> None:
    with git_server(tmp_path) as server:
        before = user_refs(server.url())
        one = make_machine(tmp_path, server, "m1", ("alpha",))
        two = make_machine(tmp_path, server, "m2", ("beta",))
        d1 = DaemonProcess(one.main, env=one.env)
        d2 = DaemonProcess(two.main, env=two.env)
        try:
            assert run_gitwarden("lock", "a.txt", "--ttl", "none", cwd=one.agents["alpha"],
                                 env=one.env).returncode == 0
            assert lock_holders(server.bare()) == ["a.txt:alpha@m1"]
            server.stop()
            wait_until(lambda: remote_state(one.main, one.env).startswith("unknown since"), 60,
                       "m1 did not notice the remote is gone", d1)
            # Local work goes on: locks are local-only and say so.
            first = run_gitwarden("lock", "b.txt", "--ttl", "none", cwd=two.agents["beta"],
                                  env=two.env)
            assert first.returncode == 0 and "local-only" in first.stderr
            second = run_gitwarden("lock", "b.txt", "--ttl", "none", cwd=one.agents["alpha"],
                                   env=one.env)
            assert second.returncode == 0 and "local-only" in second.stderr
            assert locks_of(one.main, one.env)["b.txt|alpha"]["remote"] == "local-only"
            # A checkpoint taken offline.
            write(one.agents["alpha"], {"src/app.py": BASE_TEXT.replace("line 5", "offline")})
            taken = json.loads(run_gitwarden("checkpoint", "alpha", "--json", cwd=one.main,
                                             env=one.env).stdout)
            checkpoint = taken[0]["commit"] if isinstance(taken, list) else \
                taken["checkpoints"][0]["commit"]
            server.start()
            # Reconnected: the remote decides b.txt; exactly one machine holds it.
            wait_until(lambda: len(lock_holders(server.bare())) == 2, 60,
                       "b.txt was not claimed after reconnect", d1)
            holders = lock_holders(server.bare())
            assert holders[0] == "a.txt:alpha@m1"
            winner = holders[1].partition("@")[2]
            loser = two if winner == "m1" else one
            loser_agent = "beta" if winner == "m1" else "alpha"

            def loser_told() -> bool:
                with Store.open(locate_repo(loser.main)) as store:
                    return bool(list_events(store, kinds=["remote.lock-lost"]))

            wait_until(loser_told, 60, "the loser was not told")
            assert f"b.txt|{loser_agent}" not in locks_of(loser.main, loser.env)
            wait_until(lambda: remote_state(one.main, one.env) == "ok", 60, "still unknown", d1)
            # The checkpoint taken offline is in m1's chain and its tree reached the remote.
            git(one.main, "merge-base", "--is-ancestor", checkpoint,
                "refs/gitwarden/checkpoints/alpha")  # raises when it is not in the chain
            presence = "refs/gitwarden/machines/m1/agents/alpha"
            wait_until(lambda: "offline" in git(
                server.bare(), "show", gitwarden_refs(server.bare())[presence] + ":src/app.py"),
                60, "the offline checkpoint tree did not reach the remote", d1)
        finally:
            d1.stop()
            d2.stop()
        assert user_refs(server.url()) == before
