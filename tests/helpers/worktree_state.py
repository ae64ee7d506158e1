"""Every file of a worktree, byte for byte: for checking that nothing was lost."""

from __future__ import annotations

import os
from pathlib import Path

State = dict[str, tuple[str, bytes]]


def worktree_state(root: Path) -> State:
    """Every file and symlink under the worktree (ignored ones too), byte for byte."""
    state: State = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".git" in filenames:
            filenames.remove(".git")
        dirnames[:] = [d for d in dirnames if d != ".git"]
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in [*filenames, *links]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                state[rel] = ("link", os.readlink(full).encode())
            else:
                kind = "exec" if os.stat(full).st_mode & 0o100 else "file"
                state[rel] = (kind, Path(full).read_bytes())
    return state


def agent_files(root: Path) -> State:
    """worktree_state without gitwarden's own context files (.gitwarden/, kept out of git)."""
    return {rel: entry for rel, entry in worktree_state(root).items()
            if not rel.startswith(".gitwarden" + os.sep)}
