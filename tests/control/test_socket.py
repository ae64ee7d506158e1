"""The control socket lives only in directories no other user can enter: never a predictable
name in a shared directory such as /tmp, which another user could pre-create to keep the
daemon from starting."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitwarden.control.socket import ControlServer, request, socket_path
from gitwarden.errors import GitwardenError
from gitwarden.git.repository import locate_repo
from tests.helpers.gitrepo import make_repo

DEEP = "d" * 60


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A sticky, world-writable directory with a short path, as /tmp is."""
    path = Path(tempfile.mkdtemp(prefix="gw", dir="/tmp"))
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _deep_state(tmp_path: Path) -> Path:
    state = tmp_path / DEEP / DEEP / "state"
    state.mkdir(parents=True, mode=0o700, exist_ok=True)
    return state


def _private(directory: Path) -> bool:
    st = directory.lstat()
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and \
        stat.S_IMODE(st.st_mode) & 0o077 == 0


def test_short_state_dirs_keep_the_socket(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    assert socket_path(state) == state / "daemon.sock"


def test_long_state_path_uses_the_runtime_dir(tmp_path: Path) -> None:
    path = socket_path(_deep_state(tmp_path))
    assert path.parent == Path(os.environ["XDG_RUNTIME_DIR"]) / "gitwarden"
    assert _private(path.parent)


def test_without_runtime_dir_a_private_directory_is_made(
        tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(shared))
    path = socket_path(_deep_state(tmp_path))
    assert path.parent == shared / f"gitwarden-{os.getuid()}"
    assert _private(path.parent)
    assert not path.name.startswith("gitwarden-")  # not /tmp/gitwarden-<sha>.sock


def test_a_directory_another_user_planted_is_refused_by_name(
        tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(shared))
    planted = shared / f"gitwarden-{os.getuid()}"
    planted.mkdir(mode=0o777)
    if os.getuid() != 0:
        pytest.skip("planting a directory owned by another user needs root")
    os.chown(planted, 4242, 4242)
    with pytest.raises(GitwardenError, match=f"{planted} belongs to another user"):
        socket_path(_deep_state(tmp_path))
    os.chown(planted, os.getuid(), os.getgid())
    planted.rmdir()
    planted.symlink_to(tmp_path)
    with pytest.raises(GitwardenError, match="not a directory"):
        socket_path(_deep_state(tmp_path))


def test_our_own_open_directory_is_closed(tmp_path: Path, shared: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(shared))
    mine = shared / f"gitwarden-{os.getuid()}"
    mine.mkdir()
    os.chmod(mine, 0o755)
    socket_path(_deep_state(tmp_path))
    assert _private(mine)


def test_server_and_client_meet_in_the_private_directory(
        tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(shared))
    repo = make_repo(tmp_path / DEEP / DEEP / "repo")
    found = locate_repo(repo)
    found.ensure_state_dir()
    server = ControlServer(found.state_dir, lambda req: {"ok": True, "echo": req["command"]})
    server.start()
    try:
        assert request(found, "ping")["echo"] == "ping"
        assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
    finally:
        server.stop()
