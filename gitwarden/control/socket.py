"""One daemon per repository: a flock'ed lock file and an owner-only unix control socket.

The protocol is one JSON object per line each way: {"command": "ping"} -> {"ok": true, ...}.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitwarden.errors import GitwardenError
from gitwarden.git.repository import Repo

LOCK_NAME = "daemon.lock"
SOCKET_NAME = "daemon.sock"
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes
_MAX_REQUEST = 1 << 20

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def socket_path(state_dir: Path) -> Path:
    """The control socket path, always in a directory only this user can enter: the state dir
    (0700), or when its path is too long for a socket, $XDG_RUNTIME_DIR/gitwarden, else a
    0700 `gitwarden-<uid>` directory in the temporary directory that gitwarden creates and
    whose owner it checks. Never a predictable path in a shared directory."""
    path = state_dir / SOCKET_NAME
    if _fits(path):
        return path
    name = hashlib.sha256(os.fsencode(state_dir)).hexdigest()[:16] + ".sock"
    problems: list[str] = []
    for directory in _runtime_dirs():
        if not _fits(directory / name):
            problems.append(f"{directory} is too deep for a socket path")
            continue
        problem = private_dir(directory)
        if problem is None:
            return directory / name
        problems.append(problem)
    raise GitwardenError("no private directory for the control socket: " + "; ".join(problems)
                         + "; set XDG_RUNTIME_DIR to a directory only you can enter")


def _fits(path: Path) -> bool:
    return len(os.fsencode(path)) <= _MAX_SOCKET_PATH


def _runtime_dirs() -> list[Path]:
    dirs = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and private_dir(Path(runtime), create=False) is None:
        dirs.append(Path(runtime) / "gitwarden")
    # TMPDIR as the user's session sets it now (macOS: a per-user directory), not as cached.
    temp = os.environ.get("TMPDIR") or "/tmp"
    dirs.append(Path(temp) / f"gitwarden-{os.getuid()}")
    return dirs


def private_dir(path: Path, *, create: bool = True) -> str | None:
    """Make sure `path` is a real directory owned by this user that nobody else can enter
    (created 0700 when missing, group/other bits of our own directory removed); None when it
    is, else what is wrong with it."""
    if create:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
    try:
        st = path.lstat()
    except OSError as exc:
        return f"cannot use {path}: {exc.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory (a symbolic link or a file is in its place)"
    if st.st_uid != os.getuid():
        return (f"{path} belongs to another user (uid {st.st_uid}); remove it or set "
                "XDG_RUNTIME_DIR")
    if stat.S_IMODE(st.st_mode) & 0o077:
        if not create:
            return f"{path} is open to other users (mode {stat.S_IMODE(st.st_mode):o})"
        os.chmod(path, 0o700)
    return None


class DaemonLock:
    """The exclusive lock that makes a daemon the only one for its repository."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise GitwardenError(f"a gitwarden daemon is already running for this "
                                 f"repository{who}") from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def lock_held(state_dir: Path) -> bool:
    """True when some process holds the daemon lock of this state dir."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class ControlServer:
    """Serves JSON requests on the control socket from a background thread."""

    def __init__(self, state_dir: Path, handler: Handler) -> None:
        self.path = socket_path(state_dir)
        self._handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        # Only called while holding the daemon lock: any socket file left is stale.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="gitwarden-control",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            # A connection per thread: a hook call is not kept waiting behind a long request
            # (a reconcile) of another client.
            threading.Thread(target=self._serve_one, args=(conn,), name="gitwarden-request",
                             daemon=True).start()

    def _serve_one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        raw = _read_line(conn)
        try:
            request = json.loads(raw)
            if not isinstance(request, dict):
                raise ValueError("request must be a JSON object")
            reply = self._handler(request)
        except (ValueError, TypeError) as exc:
            reply = {"ok": False, "error": f"bad request: {exc}"}
        except Exception as exc:  # the control thread must survive any handler failure
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        conn.sendall(json.dumps(reply).encode() + b"\n")


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < _MAX_REQUEST:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def request(repo: Repo, command: str, *, timeout: float = 5.0,
            **params: Any) -> dict[str, Any]:
    """Send one request to the repository's running daemon and return its reply."""
    path = socket_path(repo.state_dir)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        sock.sendall(json.dumps({"command": command, **params}).encode() + b"\n")
        raw = _read_line(sock)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        _remove_if_stale(repo.state_dir, path, exc)
        raise GitwardenError("no gitwarden daemon is running for this repository "
                             "(start one with `gitwarden watch`)") from exc
    except OSError as exc:
        raise GitwardenError(f"the gitwarden daemon did not answer: {exc}") from exc
    finally:
        sock.close()
    try:
        reply = json.loads(raw)
    except ValueError as exc:
        raise GitwardenError("the gitwarden daemon sent an unreadable reply") from exc
    if not isinstance(reply, dict):
        raise GitwardenError("the gitwarden daemon sent an unreadable reply")
    return reply


def daemon_running(repo: Repo) -> bool:
    """True when a daemon answers `ping` on this repository's control socket."""
    if not lock_held(repo.state_dir):
        return False
    try:
        return bool(request(repo, "ping", timeout=2.0).get("ok"))
    except GitwardenError:
        return False


def _remove_if_stale(state_dir: Path, path: Path, exc: OSError) -> None:
    if exc.errno == errno.ECONNREFUSED and not lock_held(state_dir):
        with contextlib.suppress(OSError):
            path.unlink()
