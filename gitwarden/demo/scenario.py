"""`gitwarden demo`: a sandbox repository, three agents, the real daemon, a narrated scenario.

Every step makes real edits and commits in real worktrees, runs the same `gitwarden` commands a
user would type (as subprocesses, output shown), and waits until the daemon has really done
what the narration claims, reading the state store and refs. A claim that does not come true
within its time limit fails the demo instead of being printed.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from pathlib import Path
from typing import Any, TextIO

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pauses import paused_agents
from gitwarden.demo.sandbox import (
    Demo,
    DemoFailed,
    DemoResult,
)
from gitwarden.errors import UsageError
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store

AGENTS = ("alpha", "beta", "gamma")

PRICING = '''\
def total(prices):
    return sum(prices)


def discount(price, percent):
    return price * (100 - percent) / 100
'''

CHECK = '''\
"""The health check of the demo repository: exit 0 when pricing works."""
from pricing import discount, total

assert total([1, 2, 3]) == 6, "total is wrong"
assert discount(200, 10) == 180, "discount is wrong"
print("all checks passed")
'''


def run_demo(directory: Path | None, out: TextIO) -> DemoResult:
    """Create the sandbox in `directory` (new temporary directory if None) and play the demo."""
    sandbox = prepare_sandbox(directory)
    demo = Demo(sandbox, out)
    with demo.running_daemon():
        play(demo)
        demo.facts["daemon"]["stopped_cleanly"] = demo.stop_daemon()
    demo.narrator.say(f"\nThe daemon has stopped. The sandbox stays for you to explore: {sandbox}")
    demo.narrator.say(f"  cd {shlex.quote(str(demo.repository))} && gitwarden status && "
                      "gitwarden events && gitwarden checkpoints")
    return DemoResult(sandbox=sandbox, repository=demo.repository, agents=dict(demo.agents),
                      daemon_log=demo.daemon_log, facts=demo.facts)


def prepare_sandbox(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="gitwarden-demo-")).resolve()
    directory = directory.expanduser().resolve()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise UsageError(f"{directory} exists and is not an empty directory: "
                         "choose a new directory for the demo sandbox")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# --- the scenario -----------------------------------------------------------------------------

def play(demo: Demo) -> None:
    n = demo.narrator
    n.say(f"gitwarden demo: a sandbox repository with three agents in {demo.sandbox}")
    setup(demo)
    start(demo)
    overlap(demo)
    checkpoint(demo)
    good_commit(demo)
    breaking_commit(demo)
    roll_back(demo)


def setup(demo: Demo) -> None:
    demo.narrator.step("A repository with three agents",
                       "each agent gets its own worktree and branch; the health check is "
                       "`python check.py`")
    repo = demo.repository
    repo.mkdir(parents=True)
    demo.git(demo.sandbox, "init", "-q", "-b", "main", repo.name)
    demo.git(repo, "config", "user.name", "gitwarden demo", show=False)
    demo.git(repo, "config", "user.email", "demo@gitwarden.invalid", show=False)
    (repo / "pricing.py").write_text(PRICING, encoding="utf-8")
    (repo / "check.py").write_text(CHECK, encoding="utf-8")
    (repo / "gitwarden.toml").write_text(_config(demo.python), encoding="utf-8")
    demo.git(repo, "add", "-A")
    demo.git(repo, "commit", "-q", "-m", "pricing with a health check")
    for name in AGENTS:
        demo.gitwarden("agent", "add", name)
    demo.gitwarden("status", show=False)

    workspace = Workspace.load(repo)
    demo.agents = {agent.name: agent.path for agent in workspace.agents}
    missing = set(AGENTS) - set(demo.agents)
    if missing:
        raise DemoFailed(f"agents not found after `agent add`: {', '.join(sorted(missing))}")
    demo.facts["agents"] = {name: str(path) for name, path in demo.agents.items()}


def _config(python: str) -> str:
    command = f"{shlex.quote(python)} check.py"
    return (
        "# gitwarden demo configuration\n"
        "[health]\n"
        "on_commit = true\n\n"
        "[health.checks]\n"
        f"test = {_toml_string(command)}\n\n"
        "[watch]\n"
        'debounce = "100ms"\n\n'
        "[checkpoints]\n"
        'interval = "1h"\n\n'
    )


def _toml_string(text: str) -> str:

    return json.dumps(text)


def start(demo: Demo) -> None:
    demo.narrator.step("Start the daemon",
                       "in real use it runs as a service: `gitwarden service install`")
    demo.narrator.command("gitwarden watch &")
    demo.start_daemon()
    demo.narrator.fact("the daemon is watching (it reported READY=1 over the sd_notify socket)")
    demo.facts["daemon"] = {"ready": True, "log": str(demo.daemon_log)}


def overlap(demo: Demo) -> None:
    demo.narrator.step("Two agents edit the same line of the same file",
                       "alpha and beta both change total() in pricing.py, without committing")
    demo.edit("alpha", "pricing.py", "return sum(prices)", "return round(sum(prices), 2)")
    demo.edit("beta", "pricing.py", "return sum(prices)",
              "return sum(p for p in prices if p > 0)")
    event = demo.wait_until(
        "the daemon to report the overlap on pricing.py",
        lambda: next(iter(e for e in demo.events(kinds=["overlap.opened"])
                          if e.path == "pricing.py"), None))
    classification = event.data.get("classification")
    demo.narrator.fact(f"the daemon noticed: {event.message}")
    demo.gitwarden("conflicts")
    if classification != "conflict":
        raise DemoFailed(f"expected a predicted conflict on pricing.py, got {classification!r}")
    demo.narrator.fact("merging alpha and beta would conflict: the user hears it now, "
                       "not at merge time")
    demo.facts["overlap"] = {"path": "pricing.py", "agents": sorted(event.data["agents"]),
                             "classification": classification, "event": event.id}


def checkpoint(demo: Demo) -> None:
    demo.narrator.step("A checkpoint of alpha's uncommitted work",
                       "a private commit under refs/gitwarden/; alpha's HEAD, index and files "
                       "are not touched")
    before = demo.git(demo.agents["alpha"], "status", "--porcelain", show=False)
    demo.gitwarden("checkpoint", "alpha", "-m", "alpha rounds totals")
    ref = "refs/gitwarden/checkpoints/alpha"
    commit = demo.git(demo.repository, "rev-parse", ref, show=False)
    saved = demo.git(demo.repository, "show", f"{commit}:pricing.py", show=False)
    after = demo.git(demo.agents["alpha"], "status", "--porcelain", show=False)
    if "round(sum(prices), 2)" not in saved or before != after:
        raise DemoFailed("the checkpoint does not hold alpha's work, or alpha's state changed")
    demo.git(demo.repository, "log", "--oneline", "-1", ref)
    demo.narrator.fact(f"checkpoint {commit[:10]} holds alpha's edit; `git status` in alpha "
                       "is unchanged")
    demo.facts["checkpoint"] = {"agent": "alpha", "ref": ref, "commit": commit}


def good_commit(demo: Demo) -> None:
    demo.narrator.step("gamma commits a good change",
                       "the daemon runs the health check on the commit, in a scratch worktree")
    gamma = demo.agents["gamma"]
    with (gamma / "pricing.py").open("a", encoding="utf-8") as handle:
        handle.write("\n\ndef with_tax(price, rate=20):\n    return price * (100 + rate) / 100\n")
    demo.narrator.say("  (gamma adds with_tax() to pricing.py)")
    demo.git(gamma, "commit", "-q", "-am", "add with_tax")
    head = demo.git(gamma, "rev-parse", "HEAD", show=False)
    demo.wait_until("the health check to pass on gamma's commit",
                    lambda: _event_with(demo, "health.pass", "gamma", head))
    demo.gitwarden("health", "gamma")
    demo.gitwarden("checkpoint", "gamma", "--clean", "-m", "with_tax works")
    clean = demo.git(demo.repository, "rev-parse", "refs/gitwarden/checkpoints/gamma", show=False)
    demo.narrator.fact(f"checks pass at {head[:10]}; checkpoint {clean[:10]} is marked clean")
    demo.facts["good"] = {"agent": "gamma", "commit": head, "clean_checkpoint": clean}


def breaking_commit(demo: Demo) -> None:
    demo.narrator.step("gamma commits a breaking change",
                       "the daemon confirms the failure with a re-run, finds the culprit "
                       "commit and pauses gamma (its policy)")
    demo.edit("gamma", "pricing.py", "return price * (100 - percent) / 100",
              "return price * percent / 100")
    demo.git(demo.agents["gamma"], "commit", "-q", "-am", "simplify discount")
    bad = demo.git(demo.agents["gamma"], "rev-parse", "HEAD", show=False)
    culprit = demo.wait_until("the daemon to name the culprit of the broken check",
                              lambda: _event_with(demo, "health.culprit", "gamma", bad,
                                                  key="culprit"))
    paused = demo.wait_until("gamma to be paused", lambda: _paused(demo, "gamma"))
    demo.gitwarden("events", "--kind", "health.culprit", check=False)
    demo.gitwarden("status")
    demo.narrator.fact(f"culprit: gamma's commit {bad[:10]} \"simplify discount\"; gamma is "
                       f"paused ({paused})")
    demo.facts["culprit"] = {"agent": "gamma", "commit": bad, "event": culprit.id,
                             "paused": True}


def roll_back(demo: Demo) -> None:
    demo.narrator.step("Roll gamma back to its last clean checkpoint, then resume it",
                       "a safety checkpoint and a backup ref are taken first, so nothing is lost")
    demo.gitwarden("rollback", "gamma", "--yes")
    gamma = demo.agents["gamma"]
    head = demo.git(gamma, "rev-parse", "HEAD", show=False)
    good = demo.facts["good"]["commit"]
    if head != good:
        raise DemoFailed(f"gamma's HEAD is {head[:10]} after the rollback, expected {good[:10]}")
    backups = demo.git(demo.repository, "for-each-ref", "--format=%(refname) %(objectname)",
                       "refs/gitwarden/backups/gamma/", show=False).splitlines()
    bad = demo.facts["culprit"]["commit"]
    backup = next((line.split()[0] for line in backups if line.split()[1] == bad), None)
    if backup is None:
        raise DemoFailed(f"no backup ref of gamma points at {bad[:10]}: {backups}")
    demo.gitwarden("resume", "gamma")
    demo.wait_until("gamma to be resumed", lambda: not _paused(demo, "gamma") or None)
    demo.narrator.fact(f"gamma is back at {head[:10]}; the broken commit stays reachable "
                       f"from {backup}")
    demo.facts["rollback"] = {"agent": "gamma", "head": head, "backup_ref": backup,
                              "resumed": True}


def _event_with(demo: Demo, kind: str, agent: str, commit: str, key: str = "commit") -> Any:
    for event in demo.events(kinds=[kind], agent=agent):
        if event.data.get(key) == commit or commit[:10] in event.message:
            return event
    return None


def _paused(demo: Demo, agent: str) -> str | None:

    with Store.open(locate_repo(demo.repository)) as store:
        info = paused_agents(store).get(agent)
    if info is None:
        return None
    return info.reason
