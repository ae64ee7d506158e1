"""The hook and guard client: asks the running daemon, else runs the guard itself.

Nothing here decides: the same decision core answers either way. This file runs as a script
(`python -I -S .../hook_client.py claude|pre-commit|pre-push [args]`, what `gitwarden hooks
install` writes) on every agent tool call and every commit, so it imports only os, sys, json
and socket: no gitwarden module, not even `site`. It finds the repository's control socket
the way gitwarden.control.socket places it, sends its input, environment and working directory,
and prints the daemon's answer. When no daemon answers (none running, another repository, an
older daemon, a timeout) it runs `python -m gitwarden hook KIND` with the same input: the direct
reads of the state, same answers, only slower.
"""

from __future__ import annotations

import json
import os
import socket
import sys

KINDS = ("claude", "pre-commit", "pre-push")
SOCKET_NAME = "daemon.sock"  # as gitwarden.control.socket.SOCKET_NAME
MAX_SOCKET_PATH = 100  # as gitwarden.control.socket._MAX_SOCKET_PATH
TIMEOUT = 10.0
PIPE_BUFFER = 16384  # below every platform's pipe capacity: one write cannot block
# The direct path for each hook: what runs without a daemon.
FALLBACK = {"claude": ["-m", "gitwarden.integrations.claude_hook"],
            "pre-commit": ["-m", "gitwarden", "hook", "pre-commit"],
            "pre-push": ["-m", "gitwarden", "hook", "pre-push"]}


def common_dir(start: str) -> str | None:
    """The common git dir of the worktree holding `start` (git's files read directly)."""
    path = os.path.realpath(start)
    while True:
        dot_git = os.path.join(path, ".git")
        if os.path.isdir(dot_git):
            return _with_commondir(dot_git)
        if os.path.isfile(dot_git):
            try:
                with open(dot_git, encoding="utf-8", errors="surrogateescape") as handle:
                    first = handle.readline().strip()
            except OSError:
                return None
            if not first.startswith("gitdir:"):
                return None
            return _with_commondir(os.path.normpath(os.path.join(path, first[7:].strip())))
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def _with_commondir(git_dir: str) -> str:
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8",
                  errors="surrogateescape") as handle:
            return os.path.normpath(os.path.join(git_dir, handle.read().strip()))
    except OSError:
        return git_dir


def socket_candidates(common: str) -> list[str]:
    """Where the daemon of this repository listens (gitwarden.control.socket.socket_path):
    the state dir, or for a path too long for a socket, a private runtime directory."""
    state_dir = os.path.join(common, "gitwarden")
    path = os.path.join(state_dir, SOCKET_NAME)
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return [path]
    import hashlib  # only for deep repositories

    name = hashlib.sha256(os.fsencode(state_dir)).hexdigest()[:16] + ".sock"
    dirs = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        dirs.append(os.path.join(runtime, "gitwarden"))
    dirs.append(os.path.join(os.environ.get("TMPDIR") or "/tmp", f"gitwarden-{os.getuid()}"))
    return [os.path.join(d, name) for d in dirs if _private(d)]


def _private(directory: str) -> bool:
    try:
        st = os.lstat(directory)
    except OSError:
        return False
    return st.st_uid == os.getuid() and (st.st_mode & 0o077) == 0 and \
        (st.st_mode & 0o170000) == 0o040000


def ask_daemon(kind: str, cwd: str, text: str, argv: list[str]) -> dict[str, object] | None:
    """The daemon's answer, or None when no daemon of this repository gives one."""
    common = common_dir(cwd)
    if common is None:
        return None
    request = json.dumps({"command": "hook", "kind": kind, "cwd": cwd, "input": text,
                          "argv": argv, "env": dict(os.environ)}).encode() + b"\n"
    for path in socket_candidates(common):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(path)
            sock.sendall(request)
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            reply = json.loads(data)
        except (OSError, ValueError):
            continue
        finally:
            sock.close()
        if isinstance(reply, dict) and reply.get("ok") and isinstance(reply.get("exit"), int):
            return reply
    return None


def claude_cwd(text: str) -> tuple[str, str] | None:
    """(cwd, input) of a Claude Code hook call: the payload's cwd, filled in with ours when
    missing (as the hook itself does); None for input the direct path must judge."""
    try:
        payload = json.loads(text or "{}")
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    cwd = payload.get("cwd")
    if not cwd:
        payload["cwd"] = cwd = os.getcwd()
        text = json.dumps(payload)
    if not isinstance(cwd, str) or not os.path.isdir(cwd):
        return None
    return cwd, text


def fallback(kind: str, text: str, argv: list[str]) -> int:
    """Run the hook directly, in a full interpreter (site-packages on), with the same input:
    in place of this process when the input fits in a pipe, else as a child."""
    command = [sys.executable, *FALLBACK[kind], *argv]
    data = text.encode("utf-8", "surrogateescape")
    if len(data) < PIPE_BUFFER:
        read, write = os.pipe()
        os.write(write, data)
        os.close(write)
        os.dup2(read, 0)
        os.close(read)
        sys.stdout.flush()
        os.execv(sys.executable, command)
    import subprocess

    return subprocess.run(command, input=data, check=False).returncode


def main(args: list[str]) -> int:
    if not args or args[0] not in KINDS:
        print(f"usage: hook_client.py {{{'|'.join(KINDS)}}} [args]", file=sys.stderr)
        return 2
    kind, argv = args[0], args[1:]
    text = sys.stdin.read() if kind != "pre-commit" else ""
    if kind == "claude":
        found = claude_cwd(text)
        reply = ask_daemon(kind, *found, argv) if found else None
    else:
        env_index = os.environ.get("GIT_INDEX_FILE")
        if env_index:  # relative to this process's cwd, which the daemon does not share
            os.environ["GIT_INDEX_FILE"] = os.path.abspath(env_index)
        reply = ask_daemon(kind, os.getcwd(), text, argv)
    if reply is None:
        return fallback(kind, text, argv)
    sys.stdout.write(str(reply.get("stdout") or ""))
    sys.stderr.write(str(reply.get("stderr") or ""))
    code = reply["exit"]
    return code if isinstance(code, int) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
