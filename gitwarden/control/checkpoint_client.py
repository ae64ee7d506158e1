"""`gitwarden checkpoint` asked of the running daemon: the client's side.

A daemon watching the repository takes the checkpoint from what it holds in memory (its file
events up to the moment of the call, fenced: gitwarden/daemon/manual_checkpoint.py) and
answers with the text the command prints. This runs before the CLI's parser is even imported
(entry.py), so it imports only gitwarden.control.client. It answers None, and the CLI takes
the checkpoint itself as it always did, when the arguments are not of the plain forms it
reads, when no daemon answers, or when the daemon leaves the call to the direct path (another
repository, a watcher without an event queue to fence, a configuration or environment the
daemon does not share, a transaction to recover).
"""

from __future__ import annotations

import os
import sys

from gitwarden.control import client

COMMAND = "take-checkpoint"
# Only a checkpoint waits this long; then the CLI takes it itself (the same result).
TIMEOUT = 60.0
# Whether this process asked the daemon already (entry.py's fast path): the CLI does not ask
# twice.
asked = False
# The environment that decides where git looks and what a snapshot holds (ignore files and
# config found through HOME, the index and object store named by GIT_*): the daemon answers
# only a call whose values are its own (GIT_CONFIG* by prefix: GIT_CONFIG_KEY_<n> & co).
SNAPSHOT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE",
                "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM", "HOME",
                "XDG_CONFIG_HOME")


def snapshot_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    return {key: value for key, value in environ.items()
            if key in SNAPSHOT_ENV or key.startswith("GIT_CONFIG")}


class Call:
    """The arguments of one `gitwarden checkpoint` (a plain class: dataclasses imports
    inspect and re)."""

    __slots__ = ("agents", "all", "clean", "json", "message")

    def __init__(self, agents: list[str], all_agents: bool, message: str | None,
                 clean: bool, as_json: bool) -> None:
        self.agents = agents
        self.all = all_agents
        self.message = message
        self.clean = clean
        self.json = as_json


def parse(words: list[str]) -> Call | None:
    """The arguments after `checkpoint` in their plain forms (names, --all, --clean, --json,
    -m/--message MSG); None for anything else, which the CLI's parser reads (help, errors,
    abbreviations, `--`)."""
    names: list[str] = []
    flags = {"--all": False, "--clean": False, "--json": False}
    message: str | None = None
    at = 0
    while at < len(words):
        word = words[at]
        if word in flags:
            flags[word] = True
        elif word in ("-m", "--message"):
            if at + 1 >= len(words) or words[at + 1].startswith("-"):
                return None
            message = words[at + 1]
            at += 1
        elif word.startswith("--message="):
            message = word.partition("=")[2]
        elif word.startswith("-") or not word:
            return None
        else:
            names.append(word)
        at += 1
    return Call(names, flags["--all"], message, flags["--clean"], flags["--json"])


def ask_daemon(call: Call, cwd: str) -> dict[str, object] | None:
    """The daemon's answer ({"exit", "stdout", "stderr"}), or None: the CLI takes it."""
    found = client.worktree_top(cwd)
    if found is None:
        return None
    _top, common = found
    line = client.encode({"command": COMMAND, "cwd": os.path.realpath(cwd),
                          "agents": call.agents, "all": call.all, "message": call.message,
                          "clean": call.clean, "json": call.json,
                          "env": snapshot_env(os.environ)})
    reply = client.exchange(common, line, TIMEOUT)
    if reply is None or reply.get("ok") is not True or not isinstance(reply.get("exit"), int):
        return None
    return reply


def show(reply: dict[str, object]) -> int:
    """Print the daemon's answer as the command prints it; its exit code."""
    try:
        sys.stdout.write(str(reply.get("stdout") or ""))
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    sys.stderr.write(str(reply.get("stderr") or ""))
    code = reply["exit"]
    return code if isinstance(code, int) else 1


def run(argv: list[str]) -> int | None:
    """The fast path of `gitwarden [-C DIR] checkpoint ...` (`argv`: the words after
    `gitwarden`): the exit code when the daemon took it, else None."""
    global asked
    cwd = os.getcwd()
    if argv[:1] == ["-C"] and len(argv) > 2 and argv[1]:
        cwd = os.path.join(cwd, os.path.expanduser(argv[1]))
        if not os.path.isdir(cwd):
            return None  # the CLI says what is wrong with it
        argv = argv[2:]
    call = parse(argv[1:]) if argv[:1] == ["checkpoint"] else None
    if call is None:
        return None
    asked = True
    reply = ask_daemon(call, cwd)
    return None if reply is None else show(reply)
