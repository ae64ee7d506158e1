"""Ref names on the shared remote and in the private local mirror.

Invariant: everything gitwarden shares lives under refs/gitwarden/ on the remote, and what it
fetches lands under refs/gitwarden/remote/<remote>/ locally: never refs/heads, refs/tags or
refs/remotes, which belong to the user.
"""

from __future__ import annotations

import hashlib
import re
import socket

SHARED_ROOT = "refs/gitwarden/"
MACHINES = "refs/gitwarden/machines/"
LOCKS = "refs/gitwarden/locks/"
REQUESTS = "refs/gitwarden/requests/"
SHARED_NAMESPACES = (MACHINES, LOCKS, REQUESTS)
ALIVE = "alive"
# An agent on another machine is named `agent@machine` everywhere a name is shown or stored;
# local agent names cannot contain '@' (see config), so the two never collide.
MACHINE_SEPARATOR = "@"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_safe_name(text: str) -> bool:
    """Whether a machine or agent name read from the remote may be used and shown as is
    (records come from other machines: anything else in them is dropped)."""
    return bool(_NAME.match(text))


def shown(text: str) -> str:
    """Text from another machine's record with control characters replaced, so that it can
    reach a terminal."""
    return _CONTROL.sub("?", text)


def machine_id(text: str | None = None) -> str:
    """A ref-safe machine id: `text`, else the host name, with other characters as '-'."""
    raw = text if text else socket.gethostname()
    cleaned = _UNSAFE.sub("-", raw).strip("-.") or "machine"
    return cleaned[:64]


def machine_prefix(machine: str) -> str:
    return f"{MACHINES}{machine}/"


def presence_ref(machine: str, agent: str) -> str:
    return f"{MACHINES}{machine}/agents/{agent}"


def alive_ref(machine: str) -> str:
    return f"{MACHINES}{machine}/{ALIVE}"


def lock_ref(kind: str, pattern: str) -> str:
    """One ref per locked pattern, named by a hash: a glob may hold any character."""
    digest = hashlib.sha256(f"{kind}\0{pattern}".encode("utf-8", "surrogateescape"))
    return LOCKS + digest.hexdigest()[:40]


def request_ref(machine: str, request_id: str) -> str:
    return f"{REQUESTS}{machine}/{request_id}"


def mirror_prefix(remote: str) -> str:
    return f"{SHARED_ROOT}remote/{remote}/"


def mirror_ref(remote: str, shared: str) -> str:
    """Where the fetched copy of a shared ref lives locally."""
    return mirror_prefix(remote) + shared[len(SHARED_ROOT):]


def fetch_refspecs(remote: str) -> list[str]:
    """The only refspecs gitwarden ever fetches: forced, into the private mirror."""
    return [f"+{space}*:{mirror_ref(remote, space)}*" for space in SHARED_NAMESPACES]


def qualified(agent: str, machine: str) -> str:
    return f"{agent}{MACHINE_SEPARATOR}{machine}"


def split_qualified(name: str) -> tuple[str, str | None]:
    """('agent', 'machine') for `agent@machine`, ('agent', None) for a local name."""
    agent, sep, machine = name.rpartition(MACHINE_SEPARATOR)
    return (agent, machine) if sep else (name, None)


def is_remote_holder(name: str) -> bool:
    return MACHINE_SEPARATOR in name
