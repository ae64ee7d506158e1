"""Finding the repository gitwarden guards, from any directory inside it."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gitwarden.errors import GitError, RepoError
from gitwarden.git.runner import run_git

STATE_DIR_NAME = "gitwarden"
CONFIG_FILE_NAME = "gitwarden.toml"

# Repository extensions that git accepts but libgit2 (pygit2) cannot open.
_UNSUPPORTED_EXTENSIONS = {
    "refstorage": "reftable repositories are not supported (libgit2 cannot read reftable refs); "
    "convert with `git refs migrate --ref-format=files`",
    "objectformat": "SHA-256 repositories are not supported by the libgit2 build pygit2 ships",
}


@dataclass(frozen=True)
class Repo:
    """The repository: its common git dir and its main worktree."""

    common_dir: Path
    main_worktree: Path
    current_worktree: Path | None

    @property
    def state_dir(self) -> Path:
        return self.common_dir / STATE_DIR_NAME

    @property
    def config_path(self) -> Path:
        return self.main_worktree / CONFIG_FILE_NAME

    def ensure_state_dir(self) -> Path:
        """Create the owner-only state directory if needed and return it."""
        path = self.state_dir
        path.mkdir(mode=0o700, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, 0o700)
        return path


def common_dir_of(git_dir: str) -> str:
    """The common git dir of a git dir (a linked worktree's names it in `commondir`)."""
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as handle:
            return os.path.normpath(os.path.join(git_dir, handle.read().strip()))
    except OSError:
        return git_dir


def locate_repo(start: Path | str | None = None) -> Repo:
    """Find the repository containing `start` (default: the current directory)."""
    start_path = Path(start) if start is not None else Path.cwd()
    if not start_path.exists():
        raise RepoError(f"directory does not exist: {start_path}")
    try:
        proc = run_git(
            ["rev-parse", "--path-format=absolute", "--git-common-dir", "--is-bare-repository",
             "--show-toplevel"],
            start_path,
            check=False,
        )
    except GitError as exc:
        raise RepoError(exc.message) from exc
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        if _is_bare(start_path):
            raise RepoError(f"bare repository: {start_path} has no working tree; run "
                            "gitwarden in a repository with a main worktree")
        raise RepoError(_rev_parse_failure(start_path, stderr))
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) > 3:
        lines = _rev_parse_one_by_one(start_path)  # a path holds a newline
    common_dir = Path(lines[0])
    if lines[1:2] == ["true"]:
        raise RepoError(
            f"bare repository: {common_dir} has no working tree; run gitwarden in a "
            "repository with a main worktree"
        )
    check_supported(common_dir)
    current = Path(lines[2]) if len(lines) > 2 else None
    return Repo(common_dir=common_dir, main_worktree=_main_worktree(common_dir, current),
                current_worktree=current)


def _rev_parse_one_by_one(start: Path) -> list[str]:
    """The answers of locate_repo's rev-parse asked one at a time, for paths that hold a
    newline (only the last newline of each answer is git's)."""
    answers = []
    for option in ("--git-common-dir", "--is-bare-repository", "--show-toplevel"):
        proc = run_git(["rev-parse", "--path-format=absolute", option], start, check=False)
        answers.append(proc.stdout.decode("utf-8", "surrogateescape").removesuffix("\n"))
    return answers


def _is_bare(path: Path) -> bool:
    proc = run_git(["rev-parse", "--is-bare-repository"], path, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == b"true"


def check_supported(common_dir: Path) -> None:
    """Refuse repository formats gitwarden's git library cannot open."""
    try:
        text = (common_dir / "config").read_text("utf-8", "replace").lower()
    except OSError:
        text = "extensions"
    if "extensions" not in text:
        return
    proc = run_git(["config", "--file", str(common_dir / "config"), "--get-regexp",
                    r"^extensions\."], common_dir, check=False)
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(" ")
        name = key.split(".", 1)[1].lower()
        if name == "refstorage" and value.strip().lower() == "files":
            continue
        if name == "objectformat" and value.strip().lower() == "sha1":
            continue
        if name in _UNSUPPORTED_EXTENSIONS:
            raise RepoError(f"unsupported repository {common_dir}: {_UNSUPPORTED_EXTENSIONS[name]}")


def _rev_parse_failure(start: Path, stderr: str) -> str:
    lowered = stderr.lower()
    if "unknown repository extension" in lowered or "repository format" in lowered:
        detail = stderr.strip().splitlines()[-1].removeprefix("fatal: ")
        return f"unsupported repository at {start}: {detail}"
    if "not a git repository" in lowered:
        return f"not a git repository: {start} (run gitwarden inside a repository or a worktree)"
    if "must be run in a work tree" in lowered or "--show-toplevel" in lowered:
        return f"not inside a working tree: {start} (run gitwarden in a worktree, not in .git)"
    if "dubious ownership" in lowered:
        return f"git refuses {start}: dubious ownership (see `git config safe.directory`)"
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "git rev-parse failed"
    return f"cannot use {start} as a repository: {last}"


def _main_worktree(common_dir: Path, current: Path | None) -> Path:
    if common_dir.name == ".git" and (common_dir.parent / ".git").is_dir():
        return common_dir.parent
    proc = run_git(["worktree", "list", "--porcelain", "-z"], current or common_dir)
    blocks = [block.split(b"\0") for block in proc.stdout.split(b"\0\0") if block.strip(b"\0")]
    if not blocks:
        return common_dir.parent
    first = [line.decode("utf-8", "surrogateescape") for line in blocks[0]]
    if "bare" not in first:
        return Path(first[0].removeprefix("worktree "))
    return _worktree_on_bare_head(common_dir, blocks[1:])


def _worktree_on_bare_head(common_dir: Path, blocks: list[list[bytes]]) -> Path:
    """In a bare repository with linked worktrees, the one on the bare HEAD's branch is main."""
    head = run_git(["symbolic-ref", "-q", "HEAD"], common_dir, check=False).stdout.strip()
    for block in blocks:
        if b"branch " + head in block:
            return Path(block[0].decode("utf-8", "surrogateescape").removeprefix("worktree "))
    branch = head.decode().removeprefix("refs/heads/") or "the default branch"
    raise RepoError(
        f"bare repository {common_dir} with linked worktrees: no worktree has {branch} "
        "checked out; check out the base branch in one worktree (gitwarden's main worktree)")
