"""The smallest client of the control socket, for commands whose start-up is their cost.

It imports only os (loaded by the interpreter anyway) and the C modules _socket and _json:
not json (it brings re), not socket (selectors and enum), no other gitwarden module and no
git process. It finds the common git dir by reading git's files as git does (the nearest
`.git` above the working directory), the socket where gitwarden.control.socket.socket_path
puts it, sends one JSON line and reads back a flat JSON object (strings, integers, booleans,
nulls). gitwarden/integrations/hook_client.py does the same for the hooks as a standalone
script that cannot import this package: the two are kept in step.
"""

from __future__ import annotations

import os

SOCKET_NAME = "daemon.sock"  # as gitwarden.control.socket.SOCKET_NAME
MAX_SOCKET_PATH = 100  # as gitwarden.control.socket._MAX_SOCKET_PATH
STATE_DIR_NAME = "gitwarden"  # as gitwarden.git.repository.STATE_DIR_NAME

Value = str | int | bool | None | list[str] | dict[str, str]


def worktree_top(start: str) -> tuple[str, str] | None:
    """(top of the worktree, its common git dir) for the directory `start`, or None."""
    path = os.path.realpath(start)
    while True:
        dot_git = os.path.join(path, ".git")
        if os.path.isdir(dot_git):
            return path, _with_commondir(dot_git)
        if os.path.isfile(dot_git):
            try:
                with open(dot_git, encoding="utf-8", errors="surrogateescape") as handle:
                    first = handle.readline().strip()
            except OSError:
                return None
            if not first.startswith("gitdir:"):
                return None
            git_dir = os.path.normpath(os.path.join(path, first[7:].strip()))
            return path, _with_commondir(git_dir)
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
    """Where the daemon of this repository listens: the state dir, or for a path too long for
    a socket, a private runtime directory (gitwarden.control.socket.socket_path)."""
    state_dir = os.path.join(common, STATE_DIR_NAME)
    path = os.path.join(state_dir, SOCKET_NAME)
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return [path] if os.path.exists(path) else []
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


def encode(request: dict[str, Value]) -> bytes:
    """One JSON line, as json.dumps writes it (ASCII, lone surrogates escaped)."""
    from _json import encode_basestring_ascii as quote

    def value(item: Value) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if item is None:
            return "null"
        if isinstance(item, int):
            return str(item)
        if isinstance(item, list):
            return "[" + ", ".join(quote(word) for word in item) + "]"
        if isinstance(item, dict):
            return "{" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in item.items()) + "}"
        return str(quote(item))

    fields = ", ".join(f"{quote(key)}: {value(item)}" for key, item in request.items())
    return ("{" + fields + "}\n").encode("ascii")


def decode_flat(data: str) -> dict[str, object] | None:
    """A flat JSON object of strings, integers, booleans and nulls, else None."""
    from _json import scanstring

    found: dict[str, object] = {}
    text = data.strip()
    if not text.startswith("{"):
        return None
    at = _skip(text, 1)
    if text.startswith("}", at):
        return found
    try:
        while True:
            if not text.startswith('"', at):
                return None
            key, at = scanstring(text, at + 1, True)
            at = _skip(text, at)
            if not text.startswith(":", at):
                return None
            at = _skip(text, at + 1)
            item: object
            if text.startswith('"', at):
                item, at = scanstring(text, at + 1, True)
            else:
                end = at
                while end < len(text) and text[end] not in ",} \t\r\n":
                    end += 1
                word = text[at:end]
                literal = {"true": True, "false": False, "null": None}
                if word in literal:
                    item = literal[word]
                elif word.lstrip("-").isdigit():
                    item = int(word)
                else:
                    return None
                at = end
            found[key] = item
            at = _skip(text, at)
            if text.startswith("}", at):
                return found if not text[at + 1:].strip() else None
            if not text.startswith(",", at):
                return None
            at = _skip(text, at + 1)
    except ValueError:
        return None


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def exchange(common: str, line: bytes, timeout: float) -> dict[str, object] | None:
    """The reply of the daemon of the repository whose common dir is `common` to `line`, or
    None when no daemon answers (none running, a timeout, a reply this cannot read)."""
    import _socket

    for path in socket_candidates(common):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(line)
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            reply = decode_flat(data.decode("utf-8", "replace"))
        except OSError:
            continue
        finally:
            sock.close()
        if reply is not None:
            return reply
    return None
