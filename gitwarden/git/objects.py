"""Facts about git objects that several parts of gitwarden use: file modes, the null object
id, and the identity gitwarden writes its own commits under (checkpoints, index backups,
integration candidates, reverts)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pygit2

MODE_TREE = 0o040000
MODE_BLOB = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000
MODE_GITLINK = 0o160000  # a submodule (or nested repository) recorded by its commit

ZERO_OID = "0" * 40

GITWARDEN_NAME = "gitwarden"
GITWARDEN_EMAIL = "gitwarden@localhost"


def tree_entry(tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    """The entry at `path` (slash-separated) in `tree`, or None. pygit2 (1.21) keeps a
    reference to the path it is given whenever the path is missing (`path in tree` and
    `tree[path]` alike), so a daemon asking about fresh path strings for months would keep
    every one of them: the path is interned first, and a missing path holds one string, not
    one per question."""
    try:
        return tree[sys.intern(path)]
    except KeyError:
        return None


def gitwarden_signature(when: int | None = None, offset: int = 0) -> pygit2.Signature:
    """The author and committer of every commit gitwarden creates."""
    import pygit2  # lazy: the agent hook imports this package and must not load pygit2

    return pygit2.Signature(GITWARDEN_NAME, GITWARDEN_EMAIL,
                            int(time.time()) if when is None else when, offset)


LIBGIT2_CACHE_BYTES = 8 * 1024 * 1024
LIBGIT2_WINDOW_BYTES = 1024 * 1024
LIBGIT2_MAPPED_BYTES = 4 * 1024 * 1024
LIBGIT2_OPEN_PACKS = 64


def bound_libgit2_memory() -> None:
    """Bound what libgit2 keeps per process (a long-running daemon): its object cache, the
    pack files it keeps open (packs a repack deleted are closed rather than kept open
    forever), the size of one mapped pack window and the windows it keeps mapped. libgit2's
    64-bit defaults are a 256 MiB cache, 1 GiB windows and 8 GiB mapped: a window that size
    maps a whole pack at once, so no limit on mapped bytes could ever unmap part of it. The
    pages of a mapped window count in the daemon's resident memory as long as it stays mapped,
    and the daemon reads all over its packs (trees and blobs of every agent): with 1 MiB
    windows and 4 MiB mapped, what packs add to its RSS is at most 5 MiB, however big the
    repository grows (the least recently used windows are unmapped; the pages stay in the
    page cache, so mapping them again costs no read)."""
    import pygit2  # lazy: the agent hook imports this package and must not load pygit2

    pygit2.settings.cache_max_size(LIBGIT2_CACHE_BYTES)
    pygit2.settings.mwindow_size = LIBGIT2_WINDOW_BYTES
    pygit2.settings.mwindow_mapped_limit = LIBGIT2_MAPPED_BYTES
    pygit2.settings.mwindow_file_limit = LIBGIT2_OPEN_PACKS


def libgit2_limits() -> dict[str, int]:
    """libgit2's memory limits in this process, as bound_libgit2_memory() set them."""
    import pygit2  # lazy: the agent hook imports this package and must not load pygit2

    return {"libgit2_cache_limit": int(pygit2.settings.cached_memory[1]),
            "libgit2_window_bytes": int(pygit2.settings.mwindow_size),
            "libgit2_mapped_limit": int(pygit2.settings.mwindow_mapped_limit),
            "libgit2_open_packs_limit": int(pygit2.settings.mwindow_file_limit)}


def libgit2_cached_bytes() -> int:
    """Bytes in libgit2's object cache now (this process)."""
    import pygit2  # lazy: the agent hook imports this package and must not load pygit2

    return int(pygit2.settings.cached_memory[0])
