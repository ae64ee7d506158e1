"""`gitwarden remote`: the other machines sharing this repository's remote ([remote])."""

from __future__ import annotations

import argparse
import time
from typing import Any

from gitwarden.agents.caller import current_agent
from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.control.socket import lock_held, request
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.output import print_json
from gitwarden.remote.forget import forget_machine
from gitwarden.remote.lockcache import refresh_cache, sync_agent_claims
from gitwarden.remote.presence import read_machines, stale_machines
from gitwarden.remote.refs import machine_id
from gitwarden.remote.view import remote_report, render_machines
from gitwarden.store.db import Store


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "remote", "other machines sharing the remote: their agents and state",
        """\
  gitwarden remote                 machines, their agents, stale ones, remote reachable?
  gitwarden remote --json
  gitwarden remote sync            exchange with the remote now (via the daemon if running)
  gitwarden remote forget ci-runner-7
                                   a stale machine that will not come back: drop its
                                   presence and locks from the remote (user only)
""")
    parser.add_argument("action", nargs="?", choices=["status", "sync", "forget"],
                        default="status")
    parser.add_argument("machine", nargs="?", help="for forget: the machine id")
    parser.add_argument("--force", action="store_true",
                        help="for forget: even when the machine still sends heartbeats")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    workspace = Workspace.load(args.cwd)
    config = workspace.config.remote
    if config is None:
        raise UsageError("no [remote] table in gitwarden.toml: add one to share agents, "
                         "changed sets and locks with other machines (see README, "
                         "\"Several machines\")")
    repo = workspace.repo
    if args.action == "forget":
        return _forget(workspace, args)
    if args.action == "sync":
        _sync(workspace)
    with Store.open(repo) as store:
        report = remote_report(repo.main_worktree, store, config)
    if args.json:
        print_json(report)
    else:
        print("\n".join(render_machines(report)))
    return 0


def _forget(workspace: Workspace, args: argparse.Namespace) -> int:
    config = workspace.config.remote
    assert config is not None
    if not args.machine:
        raise UsageError("name the machine: gitwarden remote forget MACHINE")
    if current_agent(workspace, None, args.cwd) is not None:
        raise UsageError("forgetting a machine is for the user, not for agents: run it "
                         "outside the agents' worktrees")
    done = forget_machine(workspace.repo.main_worktree, config, args.machine, force=args.force)
    print(f"forgot machine {done.machine}: {len(done.refs)} ref(s) deleted on {config.name}")
    if done.kept:
        print(f"gitwarden: {len(done.kept)} ref(s) changed meanwhile and were kept: the "
              "machine may be back")
        return 1
    return 0


def _sync(workspace: Workspace) -> None:
    """The daemon's exchange when it runs; otherwise fetch, claims and lock cache only (the
    daemon is the one that publishes presence)."""
    repo = workspace.repo
    config = workspace.config.remote
    assert config is not None
    if lock_held(repo.state_dir):
        answer = request(repo, "remote-sync", timeout=120)
        if not answer.get("ok"):
            raise GitwardenError(f"remote exchange failed: {answer.get('error')}")
        return
    with Store.open(repo) as store:
        report = sync_agent_claims(repo.main_worktree, store, config, None)
        if report.unreachable:
            raise GitwardenError(f"remote {config.name} unreachable: {report.unreachable}")
        stale = stale_machines(read_machines(repo.main_worktree, config.name),
                               time.time(), config.interval)
        refresh_cache(repo.main_worktree, store, config.name, machine_id(config.machine), stale)
