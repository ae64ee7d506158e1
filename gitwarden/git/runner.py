"""Running the git CLI the way gitwarden must: never taking optional locks."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitwarden.errors import GitError

_BASE_ENV_OVERRIDES = {
    # Rule 2: never take index.lock for a stat refresh an agent might be waiting on.
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a git subprocess run by gitwarden."""
    env = dict(os.environ)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"):
        env.pop(key, None)
    env.update(_BASE_ENV_OVERRIDES)
    if extra:
        env.update(extra)
    return env


def run_git(
    args: Sequence[str],
    cwd: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    check: bool = True,
    pass_fds: Sequence[int] = (),
    timeout: float | None = None,
    low_priority: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git args` in cwd and return the completed process (bytes output); with `timeout`,
    a git still running after that many seconds is killed and GitError raised; with
    `low_priority`, at the lowest CPU (nice) and I/O (ionice, where it exists) priority."""
    try:
        proc = subprocess.run(
            [*(_low_priority_prefix() if low_priority else []), "git", *args],
            cwd=cwd,
            env=git_env(env),
            input=input_bytes,
            capture_output=True,
            check=False,
            pass_fds=tuple(pass_fds),
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {' '.join(args[:2])} timed out after {timeout:g}s") from exc
    except FileNotFoundError as exc:
        if not Path(cwd).exists():
            raise GitError(f"directory does not exist: {cwd}") from exc
        raise GitError("git is not installed or not on PATH") from exc
    except NotADirectoryError as exc:
        raise GitError(f"not a directory: {cwd}") from exc
    if check and proc.returncode != 0:
        raise GitError(_failure_message(args, proc.stderr))
    return proc


def _low_priority_prefix() -> list[str]:
    prefix = ["nice", "-n", "19"] if shutil.which("nice") else []
    if shutil.which("ionice"):
        prefix += ["ionice", "-c", "3"]
    return prefix


def git_text(args: Sequence[str], cwd: Path | str, **kwargs: object) -> str:
    """Run git and return stdout decoded, without the trailing newline."""
    proc = run_git(args, cwd, **kwargs)  # type: ignore[arg-type]
    return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def split_z(output: bytes) -> list[str]:
    """Split NUL-terminated git output into str paths (undecodable bytes kept)."""
    return [part.decode("utf-8", "surrogateescape") for part in output.split(b"\0") if part]


def _failure_message(args: Sequence[str], stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    detail = lines[-1] if lines else "no error output"
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            detail = line
            break
    return f"git {' '.join(args[:2])} failed: {detail}"
