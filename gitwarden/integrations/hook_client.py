"""The hook and guard client: asks the running daemon, else runs the hook itself.

Nothing here decides: the same decision core answers either way. This file runs as a script
(`python -I -S .../hook_client.py KIND [args]`, what `gitwarden hooks install` writes) on every
agent tool call and every commit, so it imports only os and sys (loaded by the interpreter
anyway) and the C modules _socket and _json: no gitwarden module, not `site`, not even the
json and socket packages (re, enum and selectors cost more than the rest of the client). It
finds the repository's control socket the way gitwarden.control.socket places it, sends its
input, environment and working directory as one JSON line, and prints the daemon's answer.
When no daemon answers (none running, another repository, an older daemon, a timeout, input
the daemon leaves to the direct path) it runs the hook module with the same input, in this
process when it can import it: the direct reads of the state, same answers, only slower.
"""

import os
import sys

KINDS = ("claude", "claude-context", "codex", "gemini", "opencode", "pre-commit", "pre-push")
TOOL_KINDS = KINDS[:5]  # JSON on stdin with the tool call's "cwd"
SOCKET_NAME = "daemon.sock"  # as gitwarden.control.socket.SOCKET_NAME
MAX_SOCKET_PATH = 100  # as gitwarden.control.socket._MAX_SOCKET_PATH
TIMEOUT = 10.0
PIPE_BUFFER = 16384  # below every platform's pipe capacity: one write cannot block
# The direct path for each hook: what runs without a daemon.
FALLBACK = {"claude": ["-m", "gitwarden.integrations.claude_hook"],
            "claude-context": ["-m", "gitwarden.integrations.claude_context"],
            "codex": ["-m", "gitwarden.integrations.codex_hook"],
            "gemini": ["-m", "gitwarden.integrations.gemini_hook"],
            "opencode": ["-m", "gitwarden.integrations.opencode_hook"],
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


def encode_request(kind: str, cwd: str, text: str, argv: list[str],
                   env: dict[str, str]) -> bytes:
    """The request as one JSON line, as json.dumps would write it (ASCII, lone surrogates
    escaped), built with _json's string encoder."""
    from _json import encode_basestring_ascii as quote

    pairs = ", ".join(f"{quote(k)}: {quote(v)}" for k, v in env.items())
    return (f'{{"command": "hook", "kind": {quote(kind)}, "cwd": {quote(cwd)}, '
            f'"input": {quote(text)}, "argv": [{", ".join(quote(a) for a in argv)}], '
            f'"env": {{{pairs}}}}}\n').encode("ascii")


def decode_reply(data: str) -> dict[str, object] | None:
    """A flat JSON object of strings, integers, booleans and nulls (the daemon's answer to a
    hook request), else None: whatever else it is, the direct path answers instead."""
    from _json import scanstring

    found: dict[str, object] = {}
    text = data.strip()
    if not text.startswith("{"):
        return None
    at = _skip(text, 1)
    if text.startswith("}", at):
        return found
    while True:
        if not text.startswith('"', at):
            return None
        key, at = scanstring(text, at + 1, True)
        at = _skip(text, at)
        if not text.startswith(":", at):
            return None
        at = _skip(text, at + 1)
        value: object
        if text.startswith('"', at):
            value, at = scanstring(text, at + 1, True)
        else:
            end = at
            while end < len(text) and text[end] not in ",} \t\r\n":
                end += 1
            word = text[at:end]
            literal = {"true": True, "false": False, "null": None}
            if word in literal:
                value = literal[word]
            elif word.lstrip("-").isdigit():
                value = int(word)
            else:
                return None
            at = end
        found[key] = value
        at = _skip(text, at)
        if text.startswith("}", at):
            return found if not text[at + 1:].strip() else None
        if not text.startswith(",", at):
            return None
        at = _skip(text, at + 1)


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def ask_daemon(kind: str, cwd: str, text: str, argv: list[str]) -> dict[str, object] | None:
    """The daemon's answer, or None when no daemon of this repository gives one."""
    import _socket

    common = common_dir(cwd)
    if common is None:
        return None
    request = encode_request(kind, cwd, text, argv, dict(os.environ))
    for path in socket_candidates(common):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
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
            reply = decode_reply(data.decode("utf-8"))
        except (OSError, ValueError):
            continue
        finally:
            sock.close()
        if reply is not None and reply.get("ok") is True and isinstance(reply.get("exit"), int):
            return reply
    return None


def payload_cwd(text: str) -> str | None:
    """The "cwd" of a tool call's JSON, found without a JSON parser: only to find the
    daemon, which parses the payload itself and answers only when its cwd is this one."""
    from _json import scanstring

    at = 0
    while True:
        at = text.find('"cwd"', at)
        if at < 0:
            return None
        at = _skip(text, at + 5)
        if text.startswith(":", at):
            start = _skip(text, at + 1)
            if not text.startswith('"', start):
                return None
            try:
                cwd = scanstring(text, start + 1, True)[0]
            except ValueError:
                return None
            return cwd if cwd and os.path.isdir(cwd) else None


def run_here(kind: str, text: str) -> int | None:
    """The hook run in this process: site-packages added now (what `-S` left out) and the
    hook module imported from them (for the git guards, the guard itself, without the CLI's
    parser); None when it cannot be imported that way (say gitwarden installed with `pip
    --user`, a site `-I` leaves out). One interpreter start-up is saved, and, as with `-I`,
    nothing is imported from the working directory."""
    import site

    site.main()
    name = FALLBACK[kind][1] if kind in TOOL_KINDS else "gitwarden.integrations.guard"
    try:
        __import__(name)
    except ImportError:
        return None
    module = sys.modules[name]
    if kind in TOOL_KINDS:
        import io

        code = module.main(io.StringIO(text), sys.stdout)
    else:
        code = module.run_guard(kind, None,
                                push_lines=text.splitlines() if kind == "pre-push" else None)
    return code if isinstance(code, int) else 1


def fallback(kind: str, text: str, argv: list[str]) -> int:
    """Run the hook directly, with the same input: in this process when it can, else in a
    full interpreter (site-packages on; `-P`: not from the working directory), in place of
    this process when the input fits in a pipe, else as a child."""
    # the tool hooks take no arguments; pre-push's (remote, url) are not used by the guard
    code = None if argv and kind in TOOL_KINDS else run_here(kind, text)
    if code is not None:
        return code
    command = [sys.executable, "-P", *FALLBACK[kind], *argv]
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
    if kind in TOOL_KINDS:
        cwd = payload_cwd(text)
        reply = ask_daemon(kind, cwd, text, argv) if cwd else None
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
