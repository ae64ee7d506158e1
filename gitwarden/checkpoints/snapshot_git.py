"""A worktree snapshot made by git itself, for names libgit2 bindings cannot handle.

pygit2 takes tree entry names as str and encodes them as strict UTF-8, so a file whose name
is not valid UTF-8 cannot be written with it. git can: copy the agent's index (keeping its
mtime, so git's racy-entry check still applies), `git add -A` into the copy, drop new files over
the size cap, `git write-tree`. The agent's own index is only read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from gitwarden.git.runner import run_git, split_z


def git_tree_snapshot(worktree: Path, git_dir: Path, scratch: Path,
                      max_untracked_size: int) -> tuple[str, tuple[str, ...]]:
    """(tree id, paths left out for size) of the whole worktree, as `git add -A` sees it."""
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix="snapshot-index-", dir=scratch)
    os.close(fd)
    temp_index = Path(temp_name)
    try:
        source = git_dir / "index"
        if source.exists():
            shutil.copy2(source, temp_index)
        else:
            temp_index.unlink()
        env = {"GIT_INDEX_FILE": str(temp_index), "GIT_LITERAL_PATHSPECS": "1"}
        untracked = split_z(run_git(["ls-files", "-z", "--others", "--exclude-standard"],
                                    worktree, env=env).stdout)
        left_out = tuple(sorted(p for p in untracked if _too_big(worktree, p,
                                                                 max_untracked_size)))
        run_git(["add", "-A", "--ignore-errors"], worktree, env=env, check=False)
        if left_out:
            listing = b"".join(os.fsencode(p) + b"\0" for p in left_out)
            run_git(["rm", "-q", "--cached", "--ignore-unmatch", "--pathspec-from-file=-",
                     "--pathspec-file-nul"], worktree, env=env, input_bytes=listing)
        tree = run_git(["write-tree"], worktree, env=env).stdout.decode().strip()
        return tree, left_out
    finally:
        temp_index.unlink(missing_ok=True)


def _too_big(worktree: Path, rel: str, limit: int) -> bool:
    try:
        return (worktree / rel).lstat().st_size > limit
    except OSError:
        return False
