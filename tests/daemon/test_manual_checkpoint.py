"""`gitwarden checkpoint` with a daemon running: the daemon takes it from memory, and the result
is the one the CLI gets without a daemon (same tree as git's own `add -A` + `write-tree`, same
output, same refusals). Real daemon processes, real files, real inotify events."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from gitwarden.checkpoints import freshness
from gitwarden.control.checkpoint_client import Call, ask_daemon
from gitwarden.git.repository import locate_repo
from tests.helpers.daemon_state import FAST, wait_for_start_checkpoints
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import (
    RepoWithAgents,
    baseline_tree,
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)

FILES = {"f.txt": "one\n", "old.txt": "old\n", "keep.txt": "keep\n", "x.tmp": "tmp\n",
         "dir/a.txt": "a\n", ".gitignore": "*.log\nbuild/\n"}
REF = "refs/gitwarden/checkpoints/alpha"


def _repo(root: Path) -> RepoWithAgents:
    repo = make_repo_with_agents(root, ("alpha", "beta"), files=FILES)
    write(repo.main, {"gitwarden.toml": FAST})
    return repo


def _daemon(repo: RepoWithAgents, watcher: str = "inotify") -> DaemonProcess:
    daemon = DaemonProcess(repo.main, env={"GITWARDEN_WATCHER": watcher})
    wait_for_start_checkpoints(daemon, repo.agents)
    return daemon


def _taken_by_daemon(daemon: DaemonProcess) -> int:
    return daemon.log().count("for the CLI")


def _normalized(proc: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    """Exit code and output with commit ids left out (they differ between repositories), and
    how the snapshot was read (`incremental` in --json: from the daemon's paths or not)."""
    out = re.sub(r"\b[0-9a-f]{10,40}\b", "<id>", proc.stdout)
    return proc.returncode, re.sub(r'"incremental": \w+', '"incremental": -', out), proc.stderr


def _tree(worktree: Path) -> str:
    return git(worktree, "rev-parse", f"{REF}^{{tree}}").strip()


def _modify(w: Path) -> None:
    write(w, {"f.txt": "two\n"})


def _new_in_new_dirs(w: Path) -> None:
    write(w, {"n1/n2/n3.txt": "deep\n", "n1/top.txt": "top\n"})


def _delete(w: Path) -> None:
    (w / "old.txt").unlink()


def _rename_file(w: Path) -> None:
    os.rename(w / "keep.txt", w / "moved.txt")


def _rename_dir(w: Path) -> None:
    os.rename(w / "dir", w / "renamed")


def _ignored(w: Path) -> None:
    write(w, {"debug.log": "noise\n", "build/out.bin": "bin\n", "kept.txt": "kept\n"})


def _rules_changed(w: Path) -> None:
    with open(w / ".gitignore", "a", encoding="utf-8") as handle:
        handle.write("*.tmp\n")


def _staged_then_changed(w: Path) -> None:
    write(w, {"staged.txt": "staged\n"})
    git(w, "add", "staged.txt")
    write(w, {"staged.txt": "changed after staging\n"})


def _nothing(_w: Path) -> None:
    return None


CASES: list[tuple[str, Callable[[Path], None]]] = [
    ("modified", _modify), ("new files in new directories", _new_in_new_dirs),
    ("deleted", _delete), ("renamed file", _rename_file), ("renamed directory", _rename_dir),
    ("ignored files", _ignored), (".gitignore changed", _rules_changed),
    ("staged by the agent, then changed", _staged_then_changed), ("nothing changed", _nothing)]


def test_same_tree_and_output_as_without_a_daemon(tmp_path: Path) -> None:
    watched, direct = _repo(tmp_path / "watched"), _repo(tmp_path / "direct")
    daemon = _daemon(watched)
    assert run_gitwarden("checkpoint", "--all", cwd=direct.main).returncode == 0  # as at start
    try:
        for what, change in CASES:
            outputs = []
            for repo in (watched, direct):
                alpha = repo.agents["alpha"]
                change(alpha)
                before = _taken_by_daemon(daemon)
                proc = run_gitwarden("checkpoint", "-m", what, cwd=alpha)
                assert proc.returncode == 0, (what, proc.stderr)
                assert _taken_by_daemon(daemon) == before + (repo is watched), what
                assert _tree(alpha) == baseline_tree(alpha, tmp_path), what
                outputs.append(_normalized(proc))
            assert outputs[0] == outputs[1], what
            assert _tree(watched.agents["alpha"]) == _tree(direct.agents["alpha"]), what
    finally:
        assert daemon.stop() == 0


def test_a_write_just_before_the_call_is_in_the_checkpoint(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    # The daemon's own checkpoints of alpha run meanwhile, every second, from the same paths.
    write(repo.main, {"gitwarden.toml": FAST + '[agents.alpha]\ncheckpoint_interval = "1s"\n'})
    daemon = _daemon(repo)
    try:
        incremental = 0
        for round_ in range(40):
            # No pause between the write and the call: the daemon fences its event queue.
            write(alpha, {"hot.txt": f"round {round_}\n", f"new/{round_}.txt": "new\n"})
            if round_ % 3 == 0:
                (alpha / "hot.txt").rename(alpha / "cold.txt")
            reply = ask_daemon(Call(["alpha"], False, None, False, True), str(alpha))
            assert reply is not None and reply["exit"] == 0, reply
            incremental += '"incremental": true' in str(reply["stdout"])
            assert _tree(alpha) == baseline_tree(alpha, tmp_path), round_
        assert incremental >= 20  # from the pending paths, not full scans every time
        assert "checkpoint of alpha: " in daemon.log()  # and the timer's took some too
    finally:
        assert daemon.stop() == 0


def test_the_last_of_a_burst_of_writes_is_in_the_checkpoint(tmp_path: Path) -> None:
    # Hundreds of events still being read when the call arrives: the fence waits for them.
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    daemon = _daemon(repo)
    try:
        for round_ in range(4):
            write(alpha, {f"b{round_}-{i}.txt": f"{i}\n" for i in range(600)})
            write(alpha, {"last.txt": f"last of burst {round_}\n"})
            reply = ask_daemon(Call(["alpha"], False, None, False, False), str(alpha))
            assert reply is not None and reply["exit"] == 0, reply
            assert git(alpha, "show", f"{REF}:last.txt") == f"last of burst {round_}\n"
            assert _tree(alpha) == baseline_tree(alpha, tmp_path), round_
    finally:
        assert daemon.stop() == 0


def test_a_file_still_open_for_writing_is_read_as_it_is_now(tmp_path: Path) -> None:
    # No IN_CLOSE_WRITE yet: the watcher remembers the file from its IN_MODIFY.
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    daemon = _daemon(repo)
    try:
        assert run_gitwarden("checkpoint", cwd=alpha).returncode == 0
        with open(alpha / "f.txt", "a", encoding="utf-8") as handle, \
                open(alpha / "growing.txt", "w", encoding="utf-8") as growing:
            for round_ in range(3):
                handle.write(f"appended {round_}\n")
                handle.flush()
                growing.write(f"line {round_}\n")
                growing.flush()
                proc = run_gitwarden("checkpoint", cwd=alpha)
                assert proc.returncode == 0, proc.stderr
                assert git(alpha, "show", f"{REF}:f.txt").endswith(f"appended {round_}\n")
                assert _tree(alpha) == baseline_tree(alpha, tmp_path), round_
        assert _taken_by_daemon(daemon) == 4
    finally:
        assert daemon.stop() == 0


def test_an_agents_concurrent_git_add(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    daemon = _daemon(repo)
    try:
        for round_ in range(5):
            write(alpha, {f"c{round_}.txt": "c\n", "f.txt": f"f {round_}\n"})
            adding = subprocess.Popen(["git", "add", "-A"], cwd=alpha)
            proc = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
            assert adding.wait() == 0
            assert proc.returncode == 0, proc.stderr
            assert _tree(alpha) == baseline_tree(alpha, tmp_path)
        assert _taken_by_daemon(daemon) == 5
    finally:
        assert daemon.stop() == 0


# Who may checkpoint whom, from where, and the refusals: the same with and without a daemon.
CALLS: list[tuple[str, tuple[str, ...]]] = [
    ("main", ()), ("main", ("nobody",)), ("main", ("--all", "--clean")),
    ("main", ("alpha", "--all")), ("main", ("--all",)), ("beta/sub", ()),
    ("main", ("alpha", "beta", "--json")), ("alpha", ("beta", "--clean")),
    ("main", ("-C", "../alpha/dir")), ("main", ("alpha", "-m", "again")),
]


@pytest.mark.parametrize("watcher", ["inotify", "observer"])
def test_who_may_checkpoint_whom_is_decided_as_without_a_daemon(tmp_path: Path,
                                                                 watcher: str) -> None:
    watched, direct = _repo(tmp_path / "watched"), _repo(tmp_path / "direct")
    for repo in (watched, direct):
        write(repo.agents["beta"], {"sub/b.txt": "b\n"})
    daemon = _daemon(watched, watcher)
    assert run_gitwarden("checkpoint", "--all", cwd=direct.main).returncode == 0  # as at start
    try:
        for where, words in CALLS:
            args = (*words[:2], "checkpoint", *words[2:]) if words[:1] == ("-C",) else \
                ("checkpoint", *words)
            procs = [run_gitwarden(*args, cwd=repo.main.parent / where.replace("main", "repo"))
                     for repo in (watched, direct)]
            assert _normalized(procs[0]) == _normalized(procs[1]), (where, words)
            assert "Traceback" not in procs[0].stderr
        for name in ("alpha", "beta"):
            assert _tree(watched.agents[name]) == _tree(direct.agents[name])
        # The observer has no ordered event queue to fence: the CLI took those itself.
        assert (_taken_by_daemon(daemon) > 0) == (watcher == "inotify")
    finally:
        assert daemon.stop() == 0


def test_a_caller_with_another_git_environment_is_left_to_the_direct_path(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    excludes = tmp_path / "excludes"
    excludes.write_text("*.secret\n")
    config = tmp_path / "global.gitconfig"
    config.write_text(f"[core]\n\texcludesFile = {excludes}\n")
    daemon = _daemon(repo)
    try:
        write(alpha, {"a.secret": "s\n", "b.txt": "b\n"})
        env = {"GIT_CONFIG_GLOBAL": str(config)}
        proc = run_gitwarden("checkpoint", cwd=alpha, env=env)
        assert proc.returncode == 0, proc.stderr
        assert _taken_by_daemon(daemon) == 0
        names = git(alpha, "ls-tree", "-r", "--name-only", REF).split()
        assert "b.txt" in names and "a.secret" not in names  # as the caller's git sees it
    finally:
        assert daemon.stop() == 0


def test_a_configuration_the_daemon_has_not_read_is_left_to_the_direct_path(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    daemon = _daemon(repo)
    try:
        # A smaller size cap: the daemon, with the old one, would keep the file.
        write(repo.main, {"gitwarden.toml": FAST + '[checkpoints]\nmax_untracked_size = "10"\n'})
        write(alpha, {"big.txt": "more than ten bytes\n"})
        proc = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
        assert proc.returncode == 0, proc.stderr
        assert "left out 1 untracked file(s) over the size cap: big.txt" in proc.stderr
        assert _taken_by_daemon(daemon) == 0
        daemon.proc.send_signal(signal.SIGHUP)  # reload: now the daemon has read it
        wait_until(lambda: "config reloaded" in daemon.log(), 30, "no reload", daemon)
        write(alpha, {"big2.txt": "more than ten bytes\n"})
        proc = run_gitwarden("checkpoint", "alpha", cwd=repo.main)
        # From the paths changed since the last checkpoint: big.txt was reported by that one.
        assert "left out 1 untracked file(s) over the size cap: big2.txt" in proc.stderr
        assert _taken_by_daemon(daemon) == 1
        assert "big2.txt" not in git(alpha, "ls-tree", "-r", "--name-only", REF).split()
    finally:
        assert daemon.stop() == 0


def test_a_tip_another_writer_made_is_not_built_on(tmp_path: Path) -> None:
    # The race it stands for: another process's full scan reads f.txt, the agent then writes
    # f.txt, the daemon checkpoints that path, and the other process commits its older read on
    # top, with a record that makes its tip a trusted base. Built here step by step.
    repo = _repo(tmp_path)
    alpha = repo.agents["alpha"]
    daemon = _daemon(repo)
    try:
        stale_tree = git(alpha, "rev-parse", f"{REF}^{{tree}}").strip()  # f.txt: "one"
        write(alpha, {"f.txt": "two\n"})
        assert run_gitwarden("checkpoint", cwd=alpha).returncode == 0
        assert _taken_by_daemon(daemon) == 1
        ours = git(alpha, "rev-parse", REF).strip()
        theirs = git(alpha, "commit-tree", stale_tree, "-p", ours, "-m", "stale").strip()
        git(alpha, "update-ref", REF, theirs, ours)
        checkout = pygit2.Repository(str(alpha))
        inputs = freshness.signature(checkout)
        assert freshness.record_base(locate_repo(repo.main).state_dir, "alpha", theirs, inputs,
                                     inputs, time.time() + 60)
        proc = run_gitwarden("checkpoint", cwd=alpha)
        assert proc.returncode == 0, proc.stderr
        assert _taken_by_daemon(daemon) == 2
        assert git(alpha, "show", f"{REF}:f.txt") == "two\n"
        assert _tree(alpha) == baseline_tree(alpha, tmp_path)
    finally:
        assert daemon.stop() == 0
