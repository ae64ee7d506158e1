"""The lean control-socket client writes and reads JSON as the json module does."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from gitwarden.control import client
from tests.helpers.gitrepo import make_repo_with_agents


def test_requests_are_json_as_json_dumps_writes_it() -> None:
    request: dict[str, client.Value] = {
        "command": "take-checkpoint", "agents": ["alpha", "b\u00e9ta", "odd\udcff"],
        "all": False, "clean": True, "message": None, "n": 3,
        "env": {"HOME": "/home/\u00fcser", "GIT_CONFIG_COUNT": "1"}, "quote": 'a "b"\n'}
    assert client.encode(request) == (json.dumps(request) + "\n").encode("ascii")


def test_flat_replies_are_read_as_json_loads_reads_them() -> None:
    reply = {"ok": True, "exit": 2, "stdout": "alpha: \u00e9\n{\"x\": 1}", "stderr": "",
             "error": None, "negative": -1}
    assert client.decode_flat(json.dumps(reply)) == reply
    assert client.decode_flat(json.dumps(reply, ensure_ascii=False)) == reply
    for bad in ("", "[]", '{"a": [1]}', '{"a": {"b": 1}}', '{"a": 1} trailing', '{"a": "x',
                '{"a": 1.5}', '{"a" 1}'):
        assert client.decode_flat(bad) is None, bad


def test_the_worktree_and_its_repository_are_found_from_gits_files(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    sub = repo.agents["alpha"] / "deep" / "er"
    sub.mkdir(parents=True)
    common = str((repo.main / ".git").resolve())
    assert client.worktree_top(str(sub)) == (str(repo.agents["alpha"].resolve()), common)
    assert client.worktree_top(str(repo.main)) == (str(repo.main.resolve()), common)
    assert client.worktree_top("/") is None


def test_no_daemon_and_a_stale_socket_get_no_answer(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, ("alpha",))
    common = str(repo.main / ".git")
    assert client.exchange(common, b'{"command": "ping"}\n', 1.0) is None
    state = repo.main / ".git" / "gitwarden"
    state.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(state / client.SOCKET_NAME))
    stale.close()  # the file stays, nobody listens: a daemon that was killed
    assert client.exchange(common, b'{"command": "ping"}\n', 1.0) is None
