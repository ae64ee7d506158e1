"""The daemon's memory of what hook decisions read: the same values as
claude_hook.DirectReads, reused while the files they come from are unchanged.

Every call still checks, cheaply, that nothing changed since the values were read, and reads
again when something did, so the very next call after a change sees it:
- gitwarden.toml: its bytes (a small read; the TOML parse and validation are what is saved),
- the worktree list: the names under `<common dir>/worktrees` and each one's `gitdir` file,
- the state database (locks, pauses, the kill switch): SQLite's `PRAGMA data_version` on a
  connection kept open (it changes when any other connection, of any process, commits) and
  the file's identity (a database moved aside and started anew).
Expiry of locks is applied on each call (claude_hook._facts), not cached. Used by one thread at
a time (hook_answers serializes the calls it answers).
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from gitwarden.agents.identity import WorktreeLocation
from gitwarden.integrations.claude_hook import DirectReads, read_state

Basis = tuple[Any, dict[str, str | None]]
State = tuple[dict[str, Any], bool, list[Any]]


class MemoryReads(DirectReads):
    """DirectReads answered from memory while their sources are unchanged."""

    def __init__(self) -> None:
        self._bases: dict[tuple[str, str], tuple[tuple[object, ...], Basis]] = {}
        self._states: dict[str, _StateMemory] = {}

    def place_basis(self, location: WorktreeLocation) -> Basis:
        key = (location.common_dir, location.main_worktree)
        signature = _basis_signature(location)
        found = self._bases.get(key)
        if found is not None and found[0] == signature:
            config, worktrees = found[1]
            return config, dict(worktrees)
        basis = super().place_basis(location)  # an invalid config raises, and is not kept
        self._bases[key] = (signature, (basis[0], dict(basis[1])))
        return basis

    def state(self, common_dir: str) -> State:
        memory = self._states.get(common_dir)
        if memory is None:
            memory = self._states[common_dir] = _StateMemory(common_dir)
        return memory.read()

    def close(self) -> None:
        for memory in self._states.values():
            memory.close()
        self._states.clear()


class _StateMemory:
    """The state database's rows for hook decisions, kept with the data_version they had."""

    def __init__(self, common_dir: str) -> None:
        self.path = os.path.join(common_dir, "gitwarden", "state.db")
        self.conn: sqlite3.Connection | None = None
        self.identity: tuple[int, int] | None = None
        self.version: int | None = None
        self.value: State = ({}, False, [])

    def read(self) -> State:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.close()
            return {}, False, []  # as DirectReads: no database, nothing held
        identity = (st.st_dev, st.st_ino)
        if self.conn is None or identity != self.identity:
            self.close()
            self.conn = sqlite3.connect(self.path, timeout=5, isolation_level=None,
                                        check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 5000")
            self.identity = identity
        try:
            version = self.conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self.version:
                self.version = None  # a failed read below is not taken for a good one
                self.value = read_state(self.conn)
                self.version = version
        except sqlite3.Error:
            self.close()
            raise
        pauses, stopped, locks = self.value
        return dict(pauses), stopped, list(locks)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.identity = None
        self.version = None


def _basis_signature(location: WorktreeLocation) -> tuple[object, ...]:
    """gitwarden.toml's bytes, and each worktree admin dir's name with its gitdir file."""
    try:
        with open(os.path.join(location.main_worktree, "gitwarden.toml"), "rb") as handle:
            config: bytes | None = handle.read()
    except FileNotFoundError:
        config = None
    except OSError as exc:  # DirectReads raises the problem; nothing is kept
        config = repr(exc).encode()
    admin = os.path.join(location.common_dir, "worktrees")
    try:
        names = sorted(os.listdir(admin))
    except OSError:
        names = []
    worktrees: list[tuple[str, bytes | None]] = []
    for name in names:
        try:
            with open(os.path.join(admin, name, "gitdir"), "rb") as handle:
                worktrees.append((name, handle.read()))
        except OSError:
            worktrees.append((name, None))
    return config, tuple(worktrees)
