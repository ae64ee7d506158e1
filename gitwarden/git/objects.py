"""Facts about git objects that several parts of gitwarden use: file modes, the null object
id, and the identity gitwarden writes its own commits under (checkpoints, index backups,
integration candidates, reverts)."""

from __future__ import annotations

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


def gitwarden_signature(when: int | None = None, offset: int = 0) -> pygit2.Signature:
    """The author and committer of every commit gitwarden creates."""
    import pygit2  # lazy: the agent hook imports this package and must not load pygit2

    return pygit2.Signature(GITWARDEN_NAME, GITWARDEN_EMAIL,
                            int(time.time()) if when is None else when, offset)


def bound_libgit2_memory(cache_bytes: int = 16 * 1024 * 1024, open_packs: int = 128,
                         mapped_bytes: int = 64 * 1024 * 1024) -> None:
    """Bound what libgit2 keeps per process (a long-running daemon): its object cache, the
    pack files it keeps open (packs a repack deleted are closed rather than kept open
    forever) and the pack windows it keeps mapped."""
    import pygit2  # lazy: the agent hook imports this package and must not load pygit2

    pygit2.settings.cache_max_size(cache_bytes)
    pygit2.settings.mwindow_file_limit = open_packs
    pygit2.settings.mwindow_mapped_limit = mapped_bytes


def libgit2_cached_bytes() -> int:
    """Bytes in libgit2's object cache now (this process)."""
    import pygit2  # lazy: the agent hook imports this package and must not load pygit2

    return int(pygit2.settings.cached_memory[0])
