"""Bad input: one line on stderr, a meaningful exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.gitrepo import git, make_repo, make_repo_with_agents, run_gitwarden, write


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("gitwarden: error: ")
    return lines[0]


def test_not_a_git_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    proc = run_gitwarden("status", cwd=tmp_path / "plain",
                         env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert proc.returncode == 2
    assert "not a git repository" in _one_line_error(proc.stderr)


def test_bare_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "bare.git")
    proc = run_gitwarden("status", cwd=tmp_path / "bare.git")
    assert proc.returncode == 2
    assert "bare repository" in _one_line_error(proc.stderr)


def test_reftable_repository_is_refused(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    git(main, "config", "core.repositoryformatversion", "1")
    git(main, "config", "extensions.refStorage", "reftable")
    proc = run_gitwarden("status", cwd=main)
    assert proc.returncode == 2
    line = _one_line_error(proc.stderr)
    assert "unsupported repository" in line and "refstorage" in line.lower()


def test_inside_git_dir(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    proc = run_gitwarden("status", cwd=main / ".git")
    assert proc.returncode == 2
    _one_line_error(proc.stderr)


@pytest.mark.parametrize(("content", "expected"), [
    ('base = "main"\nbroken = = 1\n', "gitwarden.toml:2: invalid TOML"),
    ('base = "main"\n[agents.x]\nscop = ["a"]\n',
     "gitwarden.toml:3: agents.x.scop: unknown key (did you mean 'scope'?)"),
    ('[agents.x]\npolicy = "explode"\n', "gitwarden.toml:2: agents.x.policy: expected one of"),
    ('[checkpoints]\ninterval = "soon"\n', "gitwarden.toml:2: checkpoints.interval: not a"),
    ('[health.checks]\ntest = 3\n', "gitwarden.toml:2: health.checks.test"),
    ('bsae = "main"\n', "gitwarden.toml:1: bsae: unknown key (did you mean 'base'?)"),
    ('[checkpoints]\ninterval = "99999999999999h"\n',
     "gitwarden.toml:2: checkpoints.interval: duration '99999999999999h' is too long"),
    ('[watch]\nreconcile_interval = "0s"\n',
     "gitwarden.toml:2: watch.reconcile_interval: must be at least 1s"),
    ('[retention]\nmax_age = "0s"\n', "gitwarden.toml:2: retention.max_age: must be at least 1s"),
    ('[retention]\nmax_rows = 0\n', "gitwarden.toml:2: retention.max_rows"),
    ('[retention]\nkeep = 3\n', "gitwarden.toml:2: retention.keep: unknown key"),
    ('[agents.a]\npath = "../w"\n[agents.b]\npath = "../w"\n',
     "gitwarden.toml:4: agents.b.path: agents 'a' and 'b' name the same worktree"),
])
def test_invalid_config_names_the_line(tmp_path: Path, content: str, expected: str) -> None:
    repo = make_repo_with_agents(tmp_path, names=["x"])
    write(repo.main, {"gitwarden.toml": content})
    proc = run_gitwarden("status", cwd=repo.main)
    assert proc.returncode == 2
    assert _one_line_error(proc.stderr).startswith(f"gitwarden: error: {expected}")


def test_unknown_base_branch(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["x"])
    write(repo.main, {"gitwarden.toml": 'base = "develop"\n'})
    proc = run_gitwarden("status", cwd=repo.main)
    assert proc.returncode == 2
    assert _one_line_error(proc.stderr) == ("gitwarden: error: gitwarden.toml:1: base: 'develop' "
                                            "is not a branch or commit in this repository")


def test_unreadable_config(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=["x"])
    (repo.main / "gitwarden.toml").mkdir()
    proc = run_gitwarden("status", cwd=repo.main)
    assert proc.returncode == 2
    assert "cannot read" in _one_line_error(proc.stderr)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    proc = run_gitwarden("status", "--bogus", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unrecognized arguments" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_version_and_help(tmp_path: Path) -> None:
    from gitwarden import __version__

    proc = run_gitwarden("--version", cwd=tmp_path)
    assert proc.stdout.strip() == f"gitwarden {__version__}"
    help_text = run_gitwarden("status", "--help", cwd=tmp_path).stdout
    assert "examples:" in help_text


# --- issue 12 case 8: values that once killed, spun or overflowed, and odd repositories ------

HUGE = "9" * 400


@pytest.mark.parametrize(("content", "expected"), [
    ("[locks]\ndefault_ttl = nan\n", "gitwarden.toml:2: locks.default_ttl: not a duration"),
    ("[checkpoints]\ninterval = nan\n", "gitwarden.toml:2: checkpoints.interval: not a"),
    ("[watch]\ndebounce = nan\n", "gitwarden.toml:2: watch.debounce: not a duration"),
    ("[watch]\ndebounce = inf\n", "gitwarden.toml:2: watch.debounce: not a duration"),
    ('[watch]\ndebounce = "1h"\n', "gitwarden.toml:2: watch.debounce: must be at most 10s"),
    ("[locks]\ndefault_ttl = -5\n", "gitwarden.toml:2: locks.default_ttl: duration must not"),
    ("[health]\ntimeout = -inf\n", "gitwarden.toml:2: health.timeout: not a duration"),
    ("[checkpoints]\nkeep_clean_days = nan\n", "gitwarden.toml:2: checkpoints.keep_clean_days"),
    (f'[checkpoints]\nmax_untracked_size = "{HUGE}"\n',
     "gitwarden.toml:2: checkpoints.max_untracked_size: not a size"),
    (f"[checkpoints]\nmax_untracked_size = {HUGE}\n",
     "gitwarden.toml:2: checkpoints.max_untracked_size: size '9999"),
    (f'[locks]\nstale_after = "{HUGE}s"\n', "gitwarden.toml:2: locks.stale_after: not a"),
    ('[agents."x.lock"]\n', "gitwarden.toml:1: agents.x.lock: agent name 'x.lock' may not end"),
    ('[agents."a..b"]\n', "gitwarden.toml:1: agents.a..b: agent name 'a..b' may not contain"),
    ('[agents."foo."]\n', "gitwarden.toml:1: agents.foo.: agent name 'foo.' may not end"),
    ('[hooks]\non_error = "maybe"\n', "gitwarden.toml:2: hooks.on_error: expected one of"),
])
def test_absurd_config_values_are_refused_with_the_line(tmp_path: Path, content: str,
                                                         expected: str) -> None:
    repo = make_repo_with_agents(tmp_path, names=["x"])
    write(repo.main, {"gitwarden.toml": content})
    proc = run_gitwarden("status", cwd=repo.main, timeout=30)
    assert proc.returncode == 2, proc.stdout
    assert _one_line_error(proc.stderr).startswith(f"gitwarden: error: {expected}")


@pytest.mark.parametrize(("args", "expected"), [
    (("agent", "add", "x.lock"), "may not end with '.' or '.lock'"),
    (("agent", "add", "a..b"), "may not contain '..'"),
    (("agent", "add", "foo."), "may not end with '.' or '.lock'"),
    (("agent", "add", "-x"), "error:"),
    (("lock", "README.md", "--agent", "x", "--ttl", "nan"), "--ttl: not a duration"),
    (("lock", "README.md", "--agent", "x", "--ttl", f"{HUGE}s"), "--ttl: not a duration"),
    (("lock", "README.md", "--agent", "x", "--ttl", "1e9999"), "--ttl: not a duration"),
    (("lock", "README.md", "--agent", "x", "--wait", "inf"), "--wait: not a duration"),
    (("-C", "/nonexistent/dir", "status"), "-C /nonexistent/dir: No such file"),
    (("lock", "README.md", "--agent", "ghost"), "unknown agent 'ghost'"),
    (("in-x", "lock", "README.md", "--agent", "ghost"), "acts only as itself"),
    (("in-x", "lock", "README.md", "--ttl", "nan"), "--ttl: not a duration"),
    (("in-x", "lock", "README.md", "--wait", "1e400s"), "--wait: not a duration"),
    (("in-x", "resume", "--all"), "ask the user"),
])
def test_bad_arguments_give_one_line_errors(tmp_path: Path, args: tuple[str, ...],
                                            expected: str) -> None:
    repo = make_repo_with_agents(tmp_path, names=["x"])
    cwd = repo.agents["x"] if args[0] == "in-x" else repo.main
    proc = run_gitwarden(*args[1:] if args[0] == "in-x" else args, cwd=cwd, timeout=30)
    assert proc.returncode == 2, proc.stdout
    assert "Traceback" not in proc.stderr
    assert expected in proc.stderr.strip().splitlines()[-1]


def test_a_repository_path_with_a_newline_works(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path / "new\nline", names=["x"])
    proc = run_gitwarden("status", cwd=repo.main, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "x " in proc.stdout
    locked = run_gitwarden("lock", "README.md", cwd=repo.agents["x"], timeout=30)
    assert locked.returncode == 0, locked.stderr


def test_a_repository_path_that_is_not_utf8_works(tmp_path: Path) -> None:
    import os

    root = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xffdir"))
    repo = make_repo_with_agents(root, names=["x"])
    proc = run_gitwarden("status", cwd=repo.main, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_status_in_a_repository_with_no_commit_yet(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main", "fresh")
    proc = run_gitwarden("status", cwd=tmp_path / "fresh", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "base main at no commit yet" in proc.stdout
