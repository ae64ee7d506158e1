"""Trees read, compared and written as raw entries, without one libgit2 object per entry.

A checkpoint that changes a few files out of 50,000 rewrites about twenty trees and compares
about as many with the previous checkpoint's. Through libgit2's objects that costs a
TreeBuilder that parses each base tree, a Python object (and a FileMode enum) per entry read,
and a read-back of every id inserted (libgit2's strict object creation); most of an
incremental checkpoint's time. Here a tree is its raw bytes parsed by one regular expression
into {name: (mode, id)}, compared as dicts, and written back in git's order through the object
database (`odb.write`, the same loose object `TreeBuilder.write` writes) or into a batch that
becomes one pack (git.object_batch). A level whose edits put back what was there is not
written again.

Invariant: `edit_tree` writes the tree `git write-tree` would write for the same entries (the
order of git's `base_name_compare`, modes in git's octal spelling, entries not edited kept
byte for byte); a level that inserts a name git could refuse (`.git`, `..`, NTFS or HFS
aliases) is built by libgit2's TreeBuilder instead, which refuses it the same way it did.
Object ids are SHA-1 (20 bytes); libgit2 opens no SHA-256 repository here.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pygit2
from pygit2.enums import ObjectType

from gitwarden.git.object_batch import OBJ_TREE, ObjectBatch
from gitwarden.git.objects import MODE_LINK, MODE_TREE

# name -> (mode as git spells it in a tree, raw 20-byte id)
RawEntries = dict[bytes, tuple[bytes, bytes]]
# What a path becomes: (object id, mode), or None to remove it.
Entry = tuple[pygit2.Oid, int] | None
# Trees already parsed or written, by raw id: an edit hands them to the diff that follows.
KnownTrees = dict[bytes, RawEntries]

_ENTRY = re.compile(rb"([0-7]+) ([^\0]+)\0(.{20})", re.DOTALL)
_TREE = b"%o" % MODE_TREE  # b"40000"
_LINK = b"%o" % MODE_LINK
# Names TreeBuilder validates (core.protectNTFS / protectHFS aliases of .git, traversal): a
# level inserting one is left to libgit2 so that it is refused exactly as before.
_SUSPECT = re.compile(rb"(?i)^(?:\.\.?$|\.git|git~)|[\\:/\x00]|[ .]$"
                      rb"|\xe2\x80|\xe2\x81|\xef\xbb\xbf")


class MalformedTree(ValueError):
    """A tree object whose bytes are not a sequence of `<mode> <name>\\0<id>` entries."""


class RecentTrees:
    """The trees this process read or wrote last, by id, up to `max_entries` entries in all.

    The next checkpoint of an agent edits the trees the previous one wrote (the same
    directories change again): it finds them here instead of reading loose objects back. An
    id names one content, so an entry never goes stale; callers never mutate what they get.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._trees: OrderedDict[bytes, RawEntries] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, raw: bytes) -> RawEntries | None:
        with self._lock:
            entries = self._trees.get(raw)
            if entries is not None:
                self._trees.move_to_end(raw)
            return entries

    def put(self, raw: bytes, entries: RawEntries) -> None:
        if len(entries) > self.max_entries:
            return
        with self._lock:
            old = self._trees.pop(raw, None)
            self._size += len(entries) - (len(old) if old is not None else 0)
            self._trees[raw] = entries
            while self._size > self.max_entries:
                _, dropped = self._trees.popitem(last=False)
                self._size -= len(dropped)

    def __len__(self) -> int:
        return len(self._trees)


# About 200 bytes an entry: a few MiB, enough for the directories several agents change.
RECENT = RecentTrees(max_entries=20_000)


def read_entries(odb: pygit2.Odb, oid: pygit2.Oid, known: KnownTrees | None = None
                 ) -> RawEntries:
    if known is not None and oid.raw in known:
        return known[oid.raw]
    recent = RECENT.get(oid.raw)
    if recent is not None:
        if known is not None:
            known[oid.raw] = recent
        return recent
    kind, data = odb.read(oid)
    if kind != ObjectType.TREE:
        raise MalformedTree(f"{oid} is not a tree")
    found = _ENTRY.findall(data)
    if sum(len(mode) + len(name) + 22 for mode, name, _ in found) != len(data):
        raise MalformedTree(f"tree {oid} cannot be parsed")
    entries = {name: (mode, raw) for mode, name, raw in found}
    RECENT.put(oid.raw, entries)
    if known is not None:
        known[oid.raw] = entries
    return entries


def lookup(odb: pygit2.Odb, tree: pygit2.Oid, path: str, known: KnownTrees | None = None
           ) -> tuple[int, pygit2.Oid] | None:
    """The (mode, id) of `path` (slash-separated) in `tree`; None when it has no such entry."""
    *parents, leaf = path.split("/")
    current = tree
    for part in parents:
        found = read_entries(odb, current, known).get(os.fsencode(part))
        if found is None or found[0] != _TREE:
            return None
        current = pygit2.Oid(raw=found[1])
    entry = read_entries(odb, current, known).get(os.fsencode(leaf))
    return None if entry is None else (int(entry[0], 8), pygit2.Oid(raw=entry[1]))


def serialize(entries: RawEntries) -> bytes:
    """The bytes of a tree object, entries in git's order (a tree sorts as `name/`)."""
    ordered = sorted(entries.items(),
                     key=lambda item: item[0] + b"/" if item[1][0] == _TREE else item[0])
    return b"".join(mode + b" " + name + b"\0" + raw for name, (mode, raw) in ordered)


def edit_tree(repo: pygit2.Repository, base: pygit2.Oid | None,
              updates: Mapping[str, Entry], known: KnownTrees | None = None,
              batch: ObjectBatch | None = None) -> pygit2.Oid | None:
    """Write the tree `base` with `updates` (worktree-relative paths) applied; None when the
    result is empty.

    A None value removes the path (a whole subtree for a directory); a None value together
    with deeper updates rebuilds that directory from those updates alone. `known` receives
    the trees read and written (and is read from). With a `batch`, new trees are added to
    it (the caller writes it) instead of written one by one.
    """
    return _edit(repo, repo.odb, base, updates, {} if known is None else known, batch)


def _edit(repo: pygit2.Repository, odb: pygit2.Odb, base: pygit2.Oid | None,
          updates: Mapping[str, Entry], known: KnownTrees,
          batch: ObjectBatch | None) -> pygit2.Oid | None:
    direct: dict[str, Entry] = {}
    nested: dict[str, dict[str, Entry]] = {}
    for path, value in updates.items():
        head, _, rest = path.partition("/")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    entries = dict(read_entries(odb, base, known)) if base is not None else {}
    edited: dict[bytes, tuple[bytes, bytes] | None] = {}
    for name, value in direct.items():
        if value is None:
            edited[os.fsencode(name)] = None
        elif value[1] != MODE_TREE:
            edited[os.fsencode(name)] = (b"%o" % value[1], value[0].raw)
    for name, sub_updates in nested.items():
        if name in direct and direct[name] is not None:
            continue  # a file (or link) now sits where a directory was
        key = os.fsencode(name)
        existing = entries.get(key) if name not in direct else None
        sub_base = pygit2.Oid(raw=existing[1]) if existing and existing[0] == _TREE else None
        sub_tree = _edit(repo, odb, sub_base, sub_updates, known, batch)
        edited[key] = None if sub_tree is None else (_TREE, sub_tree.raw)
    if any(value is not None and _SUSPECT.search(name) for name, value in edited.items()):
        if batch is not None:
            batch.write()  # libgit2 checks that what it is given exists
        return _edit_by_libgit2(repo, base, edited)
    for key, new in edited.items():
        if new is None:
            entries.pop(key, None)
        else:
            entries[key] = new
    if not entries:
        return None
    if base is not None and entries == known.get(base.raw):
        return base  # every edit put back what was there
    data = serialize(entries)
    written = batch.add(OBJ_TREE, data, new=True) if batch is not None \
        else odb.write(ObjectType.TREE, data)
    known[written.raw] = entries
    RECENT.put(written.raw, entries)
    return written


def _edit_by_libgit2(repo: pygit2.Repository, base: pygit2.Oid | None,
                     edited: Mapping[bytes, tuple[bytes, bytes] | None]) -> pygit2.Oid | None:
    base_tree = repo[base] if base is not None else None
    builder = repo.TreeBuilder(base_tree) if isinstance(base_tree, pygit2.Tree) \
        else repo.TreeBuilder()
    for key, new in edited.items():
        name = os.fsdecode(key)
        if new is None:
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            builder.insert(name, pygit2.Oid(raw=new[1]), int(new[0], 8))
    if len(builder) == 0:
        return None
    return builder.write()


@dataclass(frozen=True)
class TreeChange:
    status: str  # A, M, D, T (a link became a file or the other way round)
    path: str


def diff_trees(repo: pygit2.Repository, old: pygit2.Oid | None,
               new: pygit2.Oid | None, known: KnownTrees | None = None) -> list[TreeChange]:
    """Files that differ between two trees, sorted by path (no rename detection: a rename is
    D + A; a file replaced by a directory is D of it and A of each file below).

    Identical subtrees (same id) are skipped without being read, so the cost follows the
    size of the change rather than the size of the repository. Trees in `known` (an edit's)
    are not read again.
    """
    out: list[TreeChange] = []
    odb = repo.odb
    _diff(lambda oid: read_entries(odb, oid, known), old.raw if old else None,
          new.raw if new else None, "", out)
    out.sort(key=lambda change: change.path)
    return out


def _diff(read: Callable[[pygit2.Oid], RawEntries], old: bytes | None, new: bytes | None,
          prefix: str, out: list[TreeChange]) -> None:
    before_entries = read(pygit2.Oid(raw=old)) if old is not None else {}
    after_entries = read(pygit2.Oid(raw=new)) if new is not None else {}
    names = {name for name, _ in before_entries.items() ^ after_entries.items()}
    for name in names:
        before, after = before_entries.get(name), after_entries.get(name)
        path = prefix + os.fsdecode(name)
        old_is_tree = before is not None and before[0] == _TREE
        new_is_tree = after is not None and after[0] == _TREE
        if old_is_tree or new_is_tree:
            _diff(read, before[1] if before is not None and old_is_tree else None,
                  after[1] if after is not None and new_is_tree else None, path + "/", out)
            if before is not None and not old_is_tree:
                out.append(TreeChange("D", path))
            if after is not None and not new_is_tree:
                out.append(TreeChange("A", path))
        elif before is None:
            out.append(TreeChange("A", path))
        elif after is None:
            out.append(TreeChange("D", path))
        else:
            out.append(TreeChange("T" if (before[0] == _LINK) != (after[0] == _LINK) else "M",
                                  path))
