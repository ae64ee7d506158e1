"""Running health checks: a build slot (global lock), a scratch worktree per slot, a process
group with a timeout, and a log file per run.

Scratch worktrees live under <state dir>/scratch/<slot>. They are made once with
`git worktree add --detach` and reused: each run checks the snapshot out there with
`checkout --force --detach` (only ever in the scratch worktree) and removes untracked files
left by the previous run, keeping ignored build caches. Agent discovery skips them.

A scratch worktree repairs itself: only the holder of its build slot ever runs git there, so
an `index.lock` found while holding the slot was left by a killed run of gitwarden and is
removed; a scratch worktree git cannot check out in is made again from scratch.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitwarden.config import HealthCheck, HealthConfig
from gitwarden.errors import GitError, GitwardenError
from gitwarden.git.repository import Repo
from gitwarden.git.runner import git_env, run_git
from gitwarden.health.outcomes import Outcome, classify_exit
from gitwarden.health.table import PastRun

SCRATCH_DIR = "scratch"
LOG_DIR = "health-logs"
LOCK_DIR = "health-locks"
KILL_GRACE = 2.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

# Running checks by pid, so that a stopping daemon can kill their process groups.
_running: dict[int, subprocess.Popen[bytes]] = {}
_running_lock = threading.Lock()
_stopping = threading.Event()


class HealthRunAborted(GitwardenError):
    """The check was killed because gitwarden is stopping: it has no result."""


class RunCancelled(GitwardenError):
    """The check was killed because its result no longer matters (the commit left the
    agent's branch): it has no result."""


class ScratchError(GitwardenError):
    """The scratch worktree could not be prepared, even after making it again."""


# Seconds between two questions to `should_stop` while a check runs.
CANCEL_POLL = 0.5


@dataclass(frozen=True)
class CheckRun:
    check: str
    outcome: Outcome
    exit_code: int | None
    timed_out: bool
    duration: float
    log_path: Path
    reused: PastRun | None = None  # the earlier run whose result this is (nothing ran)


@dataclass(frozen=True)
class Slot:
    number: int
    scratch: Path


def scratch_root(repo: Repo) -> Path:
    return repo.state_dir / SCRATCH_DIR


@contextlib.contextmanager
def build_slot(repo: Repo, parallel: int, *, poll: float = 0.05) -> Iterator[Slot]:
    """Hold one of `parallel` build slots (flock on a lock file per slot) while running."""
    lock_dir = repo.ensure_state_dir() / LOCK_DIR
    lock_dir.mkdir(mode=0o700, exist_ok=True)
    count = max(1, parallel)
    while True:
        for number in range(count):
            fd = os.open(lock_dir / f"{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield Slot(number=number, scratch=scratch_root(repo) / str(number))
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        time.sleep(poll)


def materialize(repo: Repo, scratch: Path, commit: str) -> None:
    """Make `scratch` a worktree checked out at `commit` (detached); the caller holds its
    build slot. ScratchError when even a new scratch worktree cannot be made."""
    if (scratch / ".git").is_file():
        remove_stale_index_lock(scratch)
        try:
            run_git(["checkout", "--quiet", "--force", "--detach", commit], scratch)
            run_git(["clean", "-q", "-f", "-f", "-d"], scratch)
            return
        except GitError:
            pass  # made again below
    try:
        _create_scratch(repo, scratch, commit)
    except (GitError, OSError) as exc:
        detail = exc.message if isinstance(exc, GitError) else str(exc)
        raise ScratchError(f"cannot prepare the scratch worktree {scratch}: {detail}") from exc


def remove_stale_index_lock(scratch: Path) -> bool:
    """Remove the index.lock of a scratch worktree whose build slot the caller holds: nobody
    else runs git there, so the lock was left by a killed run of gitwarden."""
    git_dir = scratch_git_dir(scratch)
    lock = git_dir / "index.lock" if git_dir is not None else None
    if lock is None or not lock.exists():
        return False
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()
    return True


def scratch_git_dir(scratch: Path) -> Path | None:
    """The private git dir of a scratch worktree (from its `.git` file)."""
    try:
        text = (scratch / ".git").read_text("utf-8", "replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    path = Path(text[len("gitdir:"):].strip())
    return path if path.is_absolute() else (scratch / path).resolve()


def _create_scratch(repo: Repo, scratch: Path, commit: str) -> None:
    scratch.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    if scratch.exists():
        shutil.rmtree(scratch)
    run_git(["worktree", "prune"], repo.main_worktree)
    run_git(["worktree", "add", "--quiet", "--force", "--detach", str(scratch), commit],
            repo.main_worktree)


def log_path_for(repo: Repo, label: str, check: str) -> Path:
    log_dir = repo.ensure_state_dir() / LOG_DIR
    log_dir.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime())
    base = f"{stamp}-{_SAFE.sub('_', label)[:60]}-{_SAFE.sub('_', check)[:40]}"
    for attempt in range(1000):
        path = log_dir / (f"{base}.log" if attempt == 0 else f"{base}-{attempt}.log")
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise GitwardenError(f"cannot create a health log file in {log_dir}")


def run_check(check: HealthCheck, cwd: Path, log_path: Path, *, default_timeout: float,
              extra_env: Mapping[str, str] | None = None,
              should_stop: Callable[[], bool] | None = None) -> CheckRun:
    """Run one check command in `cwd` (its own process group), output to `log_path`.
    `should_stop` is asked every CANCEL_POLL seconds; True kills the check (RunCancelled)."""
    timeout = check.timeout if check.timeout is not None else default_timeout
    env = git_env({"GITWARDEN_HEALTH": "1", **dict(extra_env or {}), **dict(check.env)})
    env.pop("GIT_OPTIONAL_LOCKS", None)  # the check's own git calls behave as usual
    started = time.monotonic()
    timed_out = False
    with open(log_path, "ab") as log:
        log.write(f"$ {check.command}\n".encode())
        log.flush()
        with _running_lock:
            if _stopping.is_set():
                raise HealthRunAborted("health check not started: gitwarden is stopping")
            proc = subprocess.Popen(["/bin/sh", "-c", check.command], cwd=cwd, env=env,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            _running[proc.pid] = proc
        cancelled = False
        try:
            returncode, cancelled = _wait(proc, timeout, should_stop)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            returncode = None
        else:
            _kill_group(proc, grace=0)  # leftover background children of the check
        finally:
            with _running_lock:
                _running.pop(proc.pid, None)
        if cancelled:
            log.write(b"\n[gitwarden] killed: the result no longer matters\n")
            raise RunCancelled(f"health check {check.name} killed: superseded")
        if _stopping.is_set():
            log.write(b"\n[gitwarden] killed: gitwarden is stopping\n")
            raise HealthRunAborted(f"health check {check.name} killed: gitwarden is stopping")
        duration = time.monotonic() - started
        status = "timed out" if timed_out else f"exit {returncode}"
        log.write(f"\n[gitwarden] {status} after {duration:.2f}s\n".encode())
    return CheckRun(check=check.name, outcome=classify_exit(returncode, timed_out=timed_out),
                    exit_code=returncode, timed_out=timed_out, duration=duration,
                    log_path=log_path)


def _wait(proc: subprocess.Popen[bytes], timeout: float,
          should_stop: Callable[[], bool] | None) -> tuple[int | None, bool]:
    """(exit code, False), or (None, True) after killing a check `should_stop` cancelled;
    TimeoutExpired after `timeout` seconds."""
    if should_stop is None:
        return proc.wait(timeout=timeout), False
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        try:
            return proc.wait(timeout=min(CANCEL_POLL, left)), False
        except subprocess.TimeoutExpired:
            pass
        if should_stop():
            _kill_group(proc, grace=0.5)
            return None, True


def terminate_all(grace: float = 1.0) -> int:
    """Kill the process group of every running check (the daemon is stopping); those checks
    raise HealthRunAborted instead of reporting a result, and no new check starts."""
    with _running_lock:
        _stopping.set()
        procs = list(_running.values())
    for proc in procs:
        _kill_group(proc, grace)
    return len(procs)


def _kill_group(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if grace > 0:
            os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def run_on_commit(repo: Repo, health: HealthConfig, check: HealthCheck, commit: str,
                  label: str, *, reuse: Callable[[], CheckRun | None] | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  on_result: Callable[[CheckRun], None] | None = None,
                  same_run_key: str | None = None,
                  before_checkout: Callable[[], object] | None = None) -> CheckRun:
    """Take a build slot, materialize `commit` in its scratch worktree, run `check` there.

    `same_run_key` (check, tree and config) is held locked from `reuse` to `on_result`, across
    processes and build slots: `reuse`, asked once the locks are held, may answer with a run
    of the same tree that finished while this one waited (then nothing runs), and `on_result`
    records a new run before anyone waiting for the same key asks. `before_checkout` is
    called just before the checkout, only when the check really runs."""
    with _same_run_lock(repo, same_run_key), build_slot(repo, health.parallel) as slot:
        earlier = reuse() if reuse is not None else None
        if earlier is not None:
            return earlier
        if should_stop is not None and should_stop():
            raise RunCancelled(f"health check {check.name} not started: superseded")
        if before_checkout is not None:
            before_checkout()
        materialize(repo, slot.scratch, commit)
        log_path = log_path_for(repo, label, check.name)
        with open(log_path, "ab") as log:
            log.write(f"[gitwarden] {label}: {check.name} on {commit} in {slot.scratch}\n"
                      .encode())
        run = run_check(check, slot.scratch, log_path, default_timeout=health.timeout,
                        extra_env={"GITWARDEN_HEALTH_COMMIT": commit}, should_stop=should_stop)
        if on_result is not None:
            on_result(run)
        return run


# Lock files for same-run keys: a fixed set, so that keys share one now and then (and wait
# for each other) rather than leaving a lock file per tree behind.
SAME_RUN_LOCKS = 64


@contextlib.contextmanager
def _same_run_lock(repo: Repo, key: str | None) -> Iterator[None]:
    if key is None:
        yield
        return
    lock_dir = repo.ensure_state_dir() / LOCK_DIR
    lock_dir.mkdir(mode=0o700, exist_ok=True)
    stripe = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % SAME_RUN_LOCKS
    fd = os.open(lock_dir / f"run-{stripe}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
