"""A pre-imported fork server for `run_gitwarden`: each call is still its own real process.

Why: the suite runs about a thousand `python -m gitwarden ...` commands, and each fresh
interpreter pays start-up and the imports of gitwarden, pygit2 and the command modules again
(0.1-0.3 s of CPU each, a third of the suite). This server is started once per session, imports
gitwarden's entry, CLI, every command module and every hook adapter, and then only forks.

What a call gets is what `python -m gitwarden ARGS` started by subprocess would get: a separate
process (its own pid, killed on timeout, exit status or signal reported back) whose fds 0/1/2
are the caller's pipes (passed with SCM_RIGHTS), whose cwd and whole environment are the
call's, with `sys.argv` and `sys.path[0]` as `-m` sets them, that runs `gitwarden.entry.main()`
and ends through the interpreter's own shutdown (SystemExit, tracebacks, atexit, threads).
Used by run_gitwarden, spawn_gitwarden (Popen-like: daemons, commands killed mid-way) and
run_python (`python -c CODE`: programs that patch gitwarden, then run its CLI).

What start-up would compute from the environment is computed again in the child: the time
zone (`time.tzset()`), `sys.dont_write_bytecode`, and libgit2's config search paths and home
dir (libgit2 caches them from $HOME and $XDG_CONFIG_HOME when pygit2 is imported). gitwarden
reads no environment, home dir or cwd at import time (tests/test_layout.py checks: such a read
would be the server's value here). Calls whose environment changes what the interpreter itself
reads at start (PYTHON*, locale variables) run in a fresh interpreter instead.

Not for tests of the entry itself (what start-up imports, `python -I -S` hook clients, SIGINT
delivery, a `gitwarden/` package in the cwd): those start fresh interpreters themselves, and
`run_gitwarden(..., fresh=True)` or GITWARDEN_TEST_FRESH_PROCESSES=1 (the whole suite) does.
Nor for a daemon whose memory is measured (`DaemonProcess(..., fresh=True)`): a fork's
resident set counts the server's pages, every command module's included.
The server is single-threaded: every request is handled by a forked supervisor, which forks the
command's process, sends its pid, waits for it and sends its exit code.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import locale
import os
import select
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FRESH_ENV = "GITWARDEN_TEST_FRESH_PROCESSES"
_HEADER = struct.Struct("!Q")
# What the interpreter reads from the environment before any code runs: such calls get a
# fresh interpreter.
_START_UP_PREFIXES = ("PYTHON", "LC_", "LANG")


def _start_up_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_START_UP_PREFIXES)}


class ForkServer:
    """The client side: starts the server process and runs calls through it."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="gitwarden-forkserver-"))
        self.socket_path = self.directory / "server.sock"
        self.env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        with open(self.directory / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, str(self.socket_path)], cwd=self.directory,
                env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while not self.socket_path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the gitwarden fork server did not start:\n"
                                   + (self.directory / "server.log").read_text())
            time.sleep(0.01)

    def accepts(self, env: Mapping[str, str]) -> bool:
        return _start_up_env(env) == _start_up_env(self.env)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def start(self, args: tuple[str, ...], cwd: str, env: Mapping[str, str],
              fds: tuple[int, int, int], new_session: bool = False,
              code: str | None = None) -> ForkedProcess:
        """`python -m gitwarden ARGS` (with `code`: `python -c CODE ARGS`) with fds 0/1/2
        (the caller keeps its copies)."""
        body = json.dumps({"args": list(args), "cwd": cwd, "env": dict(env),
                           "new_session": new_session, "code": code}).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(self.socket_path))
            socket.send_fds(conn, [_HEADER.pack(len(body))], list(fds))
            conn.sendall(body)
            argv = [sys.executable, *(["-c", code] if code else ["-m", "gitwarden"]), *args]
            return ForkedProcess(argv, conn)
        except BaseException:
            conn.close()
            raise

    def run(self, args: tuple[str, ...], cwd: str, env: Mapping[str, str],
            input_text: str | None, timeout: float,
            code: str | None = None) -> subprocess.CompletedProcess[str]:
        """As subprocess.run(capture_output=True, text=True, timeout=...) would."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if input_text is not None else (0, -1)
        try:
            proc = self.start(args, cwd, env, (in_r, out_w, err_w), code=code)
        finally:
            for fd in (out_w, err_w, *((in_r,) if in_w != -1 else ())):
                os.close(fd)
        with proc:
            deadline = time.monotonic() + timeout
            encoding = locale.getpreferredencoding(False)
            data = input_text.encode(encoding) if input_text is not None else b""
            outputs, timed_out = _communicate(in_w, data, out_r, err_r, deadline)
            if timed_out:
                proc.kill()
            returncode = proc.wait()
        stdout, stderr = (_text(outputs[out_r], encoding), _text(outputs[err_r], encoding))
        if timed_out:
            raise subprocess.TimeoutExpired(proc.args, timeout, output=stdout, stderr=stderr)
        return subprocess.CompletedProcess(proc.args, returncode, stdout, stderr)


class ForkedProcess:
    """A command forked by the server, driven like subprocess.Popen (pid, poll, wait,
    send_signal): its supervisor sends the pid, then the exit code (-N: killed by signal N)."""

    def __init__(self, args: list[str], conn: socket.socket) -> None:
        self.args = args
        self.returncode: int | None = None
        self._conn = conn
        self._buffer = b""
        pid = self._line(None)
        if pid is None:
            raise RuntimeError("the fork server did not start the command")
        self.pid = pid

    def _line(self, timeout: float | None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._conn], [], [], remaining)[0]:
                return None
            chunk = self._conn.recv(4096)
            if not chunk:
                raise RuntimeError("the fork server's supervisor went away")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return int(line)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._line(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._line(timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __enter__(self) -> ForkedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.close()

    def __del__(self) -> None:
        self._conn.close()


def _text(data: bytes, encoding: str) -> str:
    """As subprocess's text mode decodes: strict, universal newlines."""
    return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


def _communicate(in_w: int, data: bytes, out_r: int, err_r: int,
                 deadline: float) -> tuple[dict[int, bytes], bool]:
    """Write `data` to in_w (then close it) and read out_r and err_r to their ends."""
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(out_r, selectors.EVENT_READ)
        selector.register(err_r, selectors.EVENT_READ)
        if in_w != -1:
            if data:
                os.set_blocking(in_w, False)
                selector.register(in_w, selectors.EVENT_WRITE)
            else:
                os.close(in_w)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(remaining):
                fd = key.fd
                if fd == in_w:
                    try:
                        written = os.write(fd, data)
                    except BrokenPipeError:
                        written = len(data)
                    data = data[written:]
                    if not data:
                        selector.unregister(fd)
                        os.close(fd)
                    continue
                chunk = os.read(fd, 65536)
                if chunk:
                    chunks[fd].append(chunk)
                else:
                    selector.unregister(fd)
        for key in list(selector.get_map().values()):
            if key.fd == in_w:
                os.close(in_w)
    if timed_out:  # the process is killed next: its pipes end, whatever it wrote is kept
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
            with contextlib.suppress(BlockingIOError):
                while chunk := os.read(fd, 65536):
                    chunks[fd].append(chunk)
    os.close(out_r)
    os.close(err_r)
    return {fd: b"".join(parts) for fd, parts in chunks.items()}, timed_out


_server: ForkServer | None = None
_server_lock = threading.Lock()


def fork_server(env: Mapping[str, str]) -> ForkServer | None:
    """The session's server, started on first use; None when the call needs a fresh
    interpreter (GITWARDEN_TEST_FRESH_PROCESSES=1 or an environment start-up reads)."""
    global _server
    if os.environ.get(FRESH_ENV) == "1":
        return None
    with _server_lock:
        if _server is None:
            _server = ForkServer()
            atexit.register(_server.close)
    return _server if _server.accepts(env) else None


# --- the server process ------------------------------------------------------------------


def _preimport() -> None:
    from gitwarden.commands import COMMAND_MODULES
    from gitwarden.integrations import HOOK_MODULES

    importlib.import_module("gitwarden.entry")
    importlib.import_module("gitwarden.cli")
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"gitwarden.commands.{module}")
    for module in HOOK_MODULES.values():
        importlib.import_module(module)
    if threading.active_count() != 1:  # fork copies only the calling thread
        raise RuntimeError(f"importing gitwarden started threads: {threading.enumerate()}")


def _serve(socket_path: str) -> dict[str, Any]:
    """Accept calls until the test session ends; returns only in a forked command process."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path + ".new")
    listener.listen(64)
    os.rename(socket_path + ".new", socket_path)
    while os.getppid() == parent:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        if not select.select([listener], [], [], 1.0)[0]:
            continue
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            return _supervise(conn)
        conn.close()
    os._exit(0)


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
    while len(header) < _HEADER.size:
        header += conn.recv(_HEADER.size - len(header))
    (size,) = _HEADER.unpack(header)
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise EOFError("the caller went away")
        body += chunk
    return json.loads(body), fds


def _supervise(conn: socket.socket) -> dict[str, Any]:
    """In a forked supervisor: fork the command's process, report its pid and exit code."""
    try:
        call, fds = _receive(conn)
        pid = os.fork()
        if pid == 0:
            conn.close()
            call["fds"] = fds
            return call
        for fd in fds:
            os.close(fd)
        conn.sendall(f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
    except BaseException as exc:
        print(f"fork server supervisor: {exc!r}", file=sys.stderr, flush=True)
        os._exit(1)
    os._exit(0)


def _become(call: dict[str, Any]) -> None:
    """Turn this forked process into `python -m gitwarden ARGS` (or `python -c CODE ARGS`)
    in the call's place."""
    import pygit2
    from pygit2.enums import ConfigLevel

    for target, fd in enumerate(call["fds"]):
        if fd != target:
            os.dup2(fd, target)
    for fd in set(call["fds"]) - {0, 1, 2}:
        os.close(fd)
    if call["new_session"]:
        os.setsid()
    os.chdir(call["cwd"])
    os.environ.clear()
    os.environ.update(call["env"])
    time.tzset()
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    # libgit2 reads these once, when pygit2 is imported (as it guesses them on Linux).
    home = os.environ.get("HOME") or str(Path.home())
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    pygit2.settings.search_path[ConfigLevel.GLOBAL] = home
    pygit2.settings.search_path[ConfigLevel.XDG] = os.path.join(xdg, "git")
    pygit2.settings.homedir = home
    import gitwarden

    if call["code"] is None:
        sys.argv = [os.path.join(os.path.dirname(gitwarden.__file__), "__main__.py"),
                    *call["args"]]
        sys.path[0] = os.getcwd()
    else:
        sys.argv = ["-c", *call["args"]]
        sys.path[0] = ""


if __name__ == "__main__":
    sys.path.pop(0)  # this file's directory: the command process sets its own sys.path[0]
    sys.path.insert(0, "")
    _preimport()
    # Objects the commands inherit stay out of their collections: a collection or the
    # interpreter's shutdown touching them would copy every page they sit on.
    gc.collect()
    gc.freeze()
    call = _serve(sys.argv[1])
    _become(call)
    if call["code"] is not None:
        exec(compile(call["code"], "<string>", "exec"), {"__name__": "__main__"})
        sys.exit(0)
    from gitwarden.entry import main

    sys.exit(main())
