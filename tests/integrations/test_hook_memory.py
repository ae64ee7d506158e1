"""The daemon answers hook calls from memory, and never from a stale one: each change (a lock
taken or released by another agent's process, a pause, the kill switch, a config edit, a
new worktree, a lock expiring) shows on the very next call, the same answer the hook gives
run directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitwarden.agents.identity import find_worktree
from gitwarden.coordination.locks import acquire
from gitwarden.git.repository import locate_repo
from gitwarden.integrations import claude_hook, hook_client, hook_memory
from gitwarden.store.db import Store
from tests.helpers.daemonproc import DaemonProcess
from tests.helpers.gitrepo import make_repo, run_gitwarden

FILES = {"README.md": "r\n", "src/a.py": "x = 1\n", "docs/api.rst": "api\n"}


@pytest.fixture()
def repo(tmp_path: Path) -> dict[str, Path]:
    main = make_repo(tmp_path, FILES)
    paths = {"main": main}
    for name in ("a", "b"):
        added = run_gitwarden("agent", "add", name, "--scope", "src/**", cwd=main)
        assert added.returncode == 0, added.stderr
        paths[name] = main.parent / f"{main.name}-agents" / name
    return paths


def _edit(cwd: Path, path: str) -> str:
    return json.dumps({"session_id": "s", "cwd": str(cwd), "hook_event_name": "PreToolUse",
                       "tool_name": "Edit", "tool_input": {"file_path": str(cwd / path)}})


def _both(cwd: Path, path: str) -> str:
    """The daemon's answer (it must answer), checked equal to the hook's run directly."""
    payload = _edit(cwd, path)
    reply = hook_client.ask_daemon("claude", str(cwd), payload, [])
    assert reply is not None and reply["exit"] == 0
    direct = subprocess.run([sys.executable, "-m", "gitwarden.integrations.claude_hook"],
                            cwd=cwd, input=payload, capture_output=True, text=True,
                            timeout=60, check=True)
    assert reply["stdout"] == direct.stdout
    return str(reply["stdout"])


def test_every_change_shows_on_the_next_call(repo: dict[str, Path]) -> None:
    a, b, main = repo["a"], repo["b"], repo["main"]
    daemon = DaemonProcess(main)
    try:
        assert _both(a, "src/a.py") == ""
        assert _both(a, "src/a.py") == ""  # answered from memory
        assert run_gitwarden("lock", "src/a.py", "--reason", "mine", cwd=b).returncode == 0
        assert "locked by agent b" in _both(a, "src/a.py")
        assert run_gitwarden("unlock", "src/a.py", cwd=b).returncode == 0
        assert _both(a, "src/a.py") == ""
        assert run_gitwarden("pause", "a", "--reason", "look", cwd=main).returncode == 0
        assert "gitwarden resume a" in _both(a, "src/a.py")
        assert run_gitwarden("resume", "a", cwd=main).returncode == 0
        assert _both(a, "src/a.py") == ""
        assert run_gitwarden("stop", cwd=main).returncode == 0  # the kill switch
        assert "gitwarden resume --all" in _both(a, "src/a.py")
        assert run_gitwarden("resume", "--all", cwd=main).returncode == 0
        assert _both(a, "src/a.py") == ""
        config = (main / "gitwarden.toml").read_text()
        (main / "gitwarden.toml").write_text(config.replace('"src/**"', '"docs/**"', 1))
        assert "outside the scope" in _both(a, "src/a.py")
        (main / "gitwarden.toml").write_text(config)
        assert _both(a, "src/a.py") == ""
        added = run_gitwarden("agent", "add", "late", "--scope", "docs/**", cwd=main)
        assert added.returncode == 0, added.stderr
        late = main.parent / f"{main.name}-agents" / "late"
        assert "outside the scope of agent late" in _both(late, "src/a.py")
        with Store.open(locate_repo(main)) as store:
            assert acquire(store, "b", ["src/a.py"], ttl=2, reason="brief").granted
        assert "locked by agent b" in _both(a, "src/a.py")
        time.sleep(2.5)
        assert _both(a, "src/a.py") == ""  # expired: no write needed to see it
    finally:
        assert daemon.stop() == 0


def test_memory_reads_again_only_what_changed(repo: dict[str, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    a, main = repo["a"], repo["main"]
    location = find_worktree(str(a))
    assert location is not None
    with Store.open(locate_repo(main)):
        pass  # the state database exists
    reads: list[str] = []
    real_read_state = hook_memory.read_state
    monkeypatch.setattr(hook_memory, "read_state",
                        lambda db: reads.append("state") or real_read_state(db))
    memory = hook_memory.MemoryReads()
    try:
        first = memory.place_basis(location)
        assert memory.place_basis(location)[0] is first[0]  # not parsed again
        direct = claude_hook.DirectReads().place_basis(location)
        assert memory.place_basis(location)[1] == direct[1]
        assert {name: agent.scope for name, agent in direct[0].agents.items()} == \
            {name: agent.scope for name, agent in first[0].agents.items()}
        memory.state(location.common_dir)
        memory.state(location.common_dir)
        assert reads == ["state"]
        assert run_gitwarden("lock", "src/x.py", cwd=repo["b"]).returncode == 0
        _, _, locks = memory.state(location.common_dir)
        assert reads == ["state", "state"] and [row[0] for row in locks] == ["src/x.py"]
        assert memory.state(location.common_dir) == \
            claude_hook.DirectReads().state(location.common_dir)
        config = main / "gitwarden.toml"
        config.write_text(config.read_text() + "\n")
        assert memory.place_basis(location)[0] is not first[0]
        moved = Path(location.common_dir) / "gitwarden" / "state.db"
        os.replace(moved, moved.with_name("state.db.aside"))
        assert memory.state(location.common_dir) == ({}, False, [])
    finally:
        memory.close()
