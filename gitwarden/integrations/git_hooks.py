"""git pre-commit / pre-push guards: installed next to the user's hooks, never over them.

An existing hook is renamed `<hook>.gitwarden-chained` and run first by our script, so the
user's checks keep working; uninstall puts it back. Linked worktrees share the common dir's
hooks, so one install guards every agent, unless `core.hooksPath` points elsewhere.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from gitwarden.agents.identity import call_environ
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.git.objects import ZERO_OID
from gitwarden.git.runner import run_git, split_z

HOOK_KINDS = ("pre-commit", "pre-push")
MARKER = "# gitwarden guard"
CHAINED_SUFFIX = ".gitwarden-chained"
BYPASS_ENV = "GITWARDEN_BYPASS"
# Run as a script by the installed hooks: it imports nothing of gitwarden (see its docstring).
HOOK_CLIENT = Path(__file__).resolve().with_name("run_hook_client.py")

_SCRIPT = """\
#!/bin/sh
{marker}: installed by `gitwarden hooks install --git`; `gitwarden hooks uninstall --git`
# removes it and restores the hook it chains to. GITWARDEN_BYPASS=1 skips the guard once
# (the bypass is logged).
chained="${{0%/*}}/{kind}{suffix}"  # no dirname process: this runs on every commit
run_gitwarden() {{
  # the hook client asks the running daemon (a warm process), else runs the guard itself
  # (exec: it is the hook's last command; no shell waits for it)
  if [ -x {python} ] && [ -f {client} ]; then exec {python} -I -S {client} "$@"
  else exec gitwarden hook "$@"; fi
}}
{body}
"""

_PRE_COMMIT_BODY = """\
if [ -x "$chained" ]; then
  "$chained" "$@" || exit $?
fi
run_gitwarden pre-commit "$@\""""

_PRE_PUSH_BODY = """\
input=$(cat)
if [ -x "$chained" ]; then
  printf '%s\\n' "$input" | "$chained" "$@" || exit $?
fi
printf '%s\\n' "$input" | run_gitwarden pre-push "$@\""""


def hooks_dir(main_worktree: Path, common_dir: Path) -> Path:
    """Where git looks for hooks: core.hooksPath when set (absolute), else <common dir>/hooks."""
    proc = run_git(["config", "--get", "core.hooksPath"], main_worktree, check=False)
    configured = proc.stdout.decode("utf-8", "surrogateescape").strip()
    if not configured:
        return common_dir / "hooks"
    path = Path(os.path.expanduser(configured))
    if not path.is_absolute():
        raise UsageError(
            f"core.hooksPath is relative ({configured}): each worktree resolves it inside its "
            "own checkout, so gitwarden cannot install one guard for all agents; add "
            "`gitwarden hook pre-commit` / `gitwarden hook pre-push` to those hooks yourself")
    return path


def render_script(kind: str, python: str = sys.executable) -> str:
    body = _PRE_COMMIT_BODY if kind == "pre-commit" else _PRE_PUSH_BODY
    return _SCRIPT.format(marker=MARKER, kind=kind, suffix=CHAINED_SUFFIX,
                          python=shlex.quote(python), client=shlex.quote(str(HOOK_CLIENT)),
                          body=body)


def is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")[:200]
    except OSError:
        return False


def is_outdated(path: Path) -> bool:
    """Whether our guard at `path` does not run the hook client (one written before it)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return MARKER in text[:200] and HOOK_CLIENT.name not in text


def install(directory: Path, kinds: Iterable[str] = HOOK_KINDS,
            python: str = sys.executable) -> list[str]:
    """Install the guards; returns one line per hook saying what was done."""
    directory.mkdir(parents=True, exist_ok=True)
    messages: list[str] = []
    for kind in kinds:
        hook = directory / kind
        chained = directory / f"{kind}{CHAINED_SUFFIX}"
        note = ""
        if (hook.exists() or hook.is_symlink()) and not is_ours(hook):
            if chained.exists() or chained.is_symlink():
                raise GitwardenError(
                    f"{hook} is not gitwarden's and {chained.name} already exists: move one of "
                    "them away, then install again")
            hook.rename(chained)
            note = f" (chaining to your existing hook, now {chained.name})"
        tmp = hook.with_name(f".{kind}.gitwarden-tmp")
        tmp.write_text(render_script(kind, python), encoding="utf-8")
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        tmp.replace(hook)
        messages.append(f"installed {kind} guard in {hook}{note}")
    return messages


def uninstall(directory: Path, kinds: Iterable[str] = HOOK_KINDS) -> list[str]:
    messages: list[str] = []
    for kind in kinds:
        hook = directory / kind
        chained = directory / f"{kind}{CHAINED_SUFFIX}"
        if not is_ours(hook):
            messages.append(f"no gitwarden {kind} guard in {directory}")
            continue
        hook.unlink()
        if chained.exists() or chained.is_symlink():
            chained.rename(hook)
            messages.append(f"removed {kind} guard; restored your hook {hook}")
        else:
            messages.append(f"removed {kind} guard {hook}")
    return messages


# --- what the guards check -----------------------------------------------------------------

def staged_paths(worktree: Path) -> list[str]:
    """Paths in the commit being made. GIT_INDEX_FILE is kept: `git commit -a` and
    `git commit PATH` stage into a temporary index that only it names."""
    extra = {}
    index = call_environ().get("GIT_INDEX_FILE")
    if index:
        extra["GIT_INDEX_FILE"] = os.path.join(worktree, index)  # relative to the hook's cwd
    # the plumbing command reads no diff configuration; an unborn HEAD needs the porcelain
    proc = run_git(["diff-index", "--cached", "--name-only", "--no-renames", "-z", "HEAD",
                    "--"], worktree, env=extra, check=False)
    if proc.returncode != 0:
        proc = run_git(["diff", "--cached", "--name-only", "--no-renames", "-z"], worktree,
                       env=extra)
    return split_z(proc.stdout)


def pushed_paths(worktree: Path, push_lines: Iterable[str], base: str | None) -> list[str]:
    """Paths changed by the commits a push would send (pre-push stdin lines)."""
    zero = ZERO_OID
    paths: dict[str, None] = {}
    for line in push_lines:
        parts = line.split()
        if len(parts) != 4 or parts[1].strip("0") == "":
            continue
        local_sha, remote_sha = parts[1], parts[3]
        if remote_sha != zero and run_git(["cat-file", "-e", f"{remote_sha}^{{commit}}"],
                                          worktree, check=False).returncode == 0:
            proc = run_git(["diff", "--name-only", "--no-renames", "-z", remote_sha, local_sha],
                           worktree)
        else:
            exclude = ["--not", "--remotes"] + ([base] if base else [])
            proc = run_git(["log", "--name-only", "--no-renames", "--format=", "-z",
                            local_sha, *exclude], worktree)
        for path in split_z(proc.stdout):
            paths[path.strip("\n")] = None
    return [p for p in paths if p]
