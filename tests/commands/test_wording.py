"""The words of the CLI, checked exactly: each case is a fault a user met on the first day."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.take import mark_clean
from gitwarden.cli import one_line
from gitwarden.integrations import claude_settings
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from tests.helpers.gitrepo import commit_all, git, make_repo_with_agents, run_gitwarden, write


def _head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()


def _repo_with_clean_commit(tmp_path: Path) -> tuple[Path, Path, str]:
    repo = make_repo_with_agents(tmp_path, names=("recipes",))
    agent = repo.agents["recipes"]
    write(agent, {"window.py": "def window_sum(): ...\n"})
    clean = commit_all(agent, "Add window_sum recipe")
    clean = _head(agent)
    mark_clean(Workspace.load(repo.main), "recipes", clean)
    write(agent, {"window.py": "broken\n"})
    commit_all(agent, "Break it")
    return repo.main, agent, clean


def test_rollback_dry_run_names_the_clean_commit_once(tmp_path: Path) -> None:
    main, _, clean = _repo_with_clean_commit(tmp_path)
    proc = run_gitwarden("rollback", "recipes", "--dry-run", cwd=main)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == \
        f"would roll back recipes to clean commit {clean[:10]}: Add window_sum recipe"


def test_rollback_event_says_clean_commit_for_a_commit(tmp_path: Path) -> None:
    main, _, clean = _repo_with_clean_commit(tmp_path)
    proc = run_gitwarden("rollback", "recipes", "--yes", cwd=main)
    assert proc.returncode == 0, proc.stderr
    with Store.open(Workspace.load(main).repo) as store:
        [event] = list_events(store, kinds=["rollback.applied"])
    assert event.message.startswith(f"rolled back recipes to clean commit {clean[:10]} ")


def test_answering_no_to_the_rollback_prompt_exits_1(tmp_path: Path) -> None:
    main, agent, _ = _repo_with_clean_commit(tmp_path)
    before = _head(agent)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gitwarden", "rollback", "recipes"], cwd=main,
                            stdin=follower, stdout=follower, stderr=follower,
                            env={**os.environ, "NO_COLOR": "1"})
    os.close(follower)
    output = b""
    while b"[y/N]" not in output:
        output += os.read(leader, 4096)
    os.write(leader, b"N\n")
    assert proc.wait(timeout=60) == 1
    try:
        while chunk := os.read(leader, 4096):
            output += chunk
    except OSError:
        pass  # the pty is closed once the process exits
    os.close(leader)
    assert output.decode().splitlines()[-1].strip() == "rollback aborted: nothing was changed"
    assert _head(agent) == before


def test_state_md_says_paused_once_with_its_reason(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    assert run_gitwarden("pause", "alpha", "--reason", "broke the build",
                         cwd=repo.main).returncode == 0
    state = (repo.agents["beta"] / ".gitwarden" / "STATE.md").read_text()
    assert "### alpha (`alpha`) — PAUSED: broke the build (by user)\n" in state
    assert "paused; PAUSED" not in state


def test_lock_wait_timeout_says_it_waited_in_one_line(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    assert run_gitwarden("lock", "src/app.py", "--ttl", "none",
                         cwd=repo.agents["alpha"]).returncode == 0
    proc = run_gitwarden("lock", "src/app.py", "--wait", "1s", cwd=repo.agents["beta"])
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (
        "gitwarden: error: not locked after waiting 1s: 'src/app.py' is locked by agent alpha "
        "via 'src/app.py' with no expiry; ask the holder with "
        '`gitwarden request --to alpha "..."`\n')
    proc = run_gitwarden("lock", "src/app.py", cwd=repo.agents["beta"])
    assert proc.stderr == (
        "gitwarden: error: not locked: 'src/app.py' is locked by agent alpha via 'src/app.py' "
        "with no expiry; wait with --wait DURATION, or ask the holder with "
        '`gitwarden request --to alpha "..."`\n')


def test_status_of_one_agent_lists_only_its_overlaps(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("more", "alpha", "beta"))
    write(repo.agents["alpha"], {"README.md": "alpha\n"})
    write(repo.agents["beta"], {"README.md": "beta\n"})
    write(repo.agents["more"], {"src/app.py": "more\n"})
    write(repo.agents["alpha"], {"src/app.py": "alpha\n"})
    proc = run_gitwarden("status", "more", cwd=repo.main, env={"NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("\n1 overlapping file(s):\n  src/app.py  (alpha, more)\n")


def test_agent_list_shows_a_paused_agent_as_paused(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    assert run_gitwarden("pause", "alpha", cwd=repo.main).returncode == 0
    proc = run_gitwarden("agent", "list", cwd=repo.main)
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert [row[:4] for row in rows] == [
        ["alpha", "alpha", _head(repo.agents["alpha"])[:10], "paused"],
        ["beta", "beta", _head(repo.agents["beta"])[:10], "ok"]]


def test_checkpoint_message_on_an_unchanged_tree_is_not_dropped_silently(
        tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",))
    write(repo.agents["alpha"], {"new.txt": "x\n"})
    first = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
    commit = first.stdout.strip().split(": ")[1]
    proc = run_gitwarden("checkpoint", "alpha", "-m", "before refactor", cwd=repo.main)
    assert proc.returncode == 0
    assert proc.stdout == (f"alpha: unchanged ({commit[:10]}); message 'before refactor' not "
                           "recorded: nothing changed since that checkpoint\n")


def test_errors_are_one_line() -> None:
    assert one_line("fatal: bad thing\n\nhint: do this\n") == "fatal: bad thing; hint: do this"


def test_readme_hook_entry_is_what_hooks_install_writes(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",))
    assert run_gitwarden("hooks", "install", "--claude", cwd=repo.main).returncode == 0
    settings = (repo.agents["alpha"] / ".claude" / "settings.local.json").read_text()
    written = re.search(r'"command": "([^"]+)"', settings)
    assert written is not None
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    documented = re.search(r'"hooks": \[\{"type": "command", "command": "([^"]+)"\}\]', readme)
    assert documented is not None
    client = str(claude_settings.HOOK_CLIENT)
    assert documented.group(1).replace("PYTHON", sys.executable).replace("CLIENT", client) == \
        written.group(1)


@pytest.mark.parametrize("word", ["health", "health.*", "HEALTH"])
def test_events_kind_takes_an_area(tmp_path: Path, word: str) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",))
    with Store.open(Workspace.load(repo.main).repo) as store:
        from gitwarden.store.events import EventKind, record_event

        record_event(store, EventKind.HEALTH_PASS, "alpha: health checks pass", agent="alpha")
        record_event(store, EventKind.CHECKPOINT_CREATED, "alpha: checkpoint", agent="alpha")
    proc = run_gitwarden("events", "--kind", word, cwd=repo.main, env={"NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[2] for line in proc.stdout.splitlines()] == ["health.pass"]
