"""Issue 12, case by case: the guards hold against every way an agent writes, names itself, or
feeds bad input. Real `gitwarden` processes (the Claude Code hook, the CLI, the daemon), real
worktrees made as `gitwarden agent add` makes them, a real nested repository and a real
submodule."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitwarden.coordination.locks import acquire, list_locks
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from tests.helpers.agents import add_scoped_agents
from tests.helpers.daemon_state import FAST, events_of
from tests.helpers.daemonproc import DaemonProcess, wait_until
from tests.helpers.gitrepo import git, make_nested_repo, make_repo, run_gitwarden, write

FILES = {"README.md": "r\n", "more_itertools/more.py": "a = 1\n", "docs/api.rst": "api\n",
         "src/f1.py": "f1\n", "src/a.py": "x = 1\n"}


class Agents:
    def __init__(self, main: Path) -> None:
        self.main = main
        self.paths: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]


@pytest.fixture()
def agents(tmp_path: Path) -> Agents:
    main = make_repo(tmp_path, FILES)
    made = Agents(main)
    made.paths = add_scoped_agents(main, {"a": "src/**", "b": "src/**", "docs": "docs/**",
                                          "more": "more_itertools/**"})
    return made


def _hook(cwd: Path, tool: str, env: dict[str, str] | None = None,
          **tool_input: str) -> subprocess.CompletedProcess[str]:
    payload = {"session_id": "s", "cwd": str(cwd), "hook_event_name": "PreToolUse",
               "tool_name": tool, "tool_input": tool_input}
    return run_gitwarden("hook", "claude", cwd=cwd, input_text=json.dumps(payload), env=env)


def _denied(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stdout, f"allowed: {result.stderr}"
    output = json.loads(result.stdout)["hookSpecificOutput"]
    assert output["permissionDecision"] == "deny"
    return str(output["permissionDecisionReason"])


def _lock(main: Path, agent: str, pattern: str, reason: str = "") -> None:
    with Store.open(locate_repo(main)) as store:
        assert acquire(store, agent, [pattern], ttl=600, reason=reason).granted


def test_case1_the_hook_denies_shell_writes_user_commands_and_bypasses(agents: Agents) -> None:
    docs, more = agents["docs"], agents["more"]
    expected = {
        "sed -i 's/1/2/' more_itertools/more.py": "outside the scope of agent docs",
        f"rm -rf {more}": "agent more",
        "cd ../more && git reset --hard HEAD~2": "agent more",
        "gitwarden resume --all": "ask the user",
        "gitwarden unlock docs/api.rst --force": "ask the user",
        "gitwarden hooks uninstall --claude": "ask the user",
        "GITWARDEN_BYPASS=1 git commit -m x": "GITWARDEN_BYPASS",
    }
    for command, why in expected.items():
        assert why in _denied(_hook(docs, "Bash", command=command)), command
    assert _hook(docs, "Bash", command="sed -i 's/api/API/' docs/api.rst").stdout == ""
    assert more.is_dir()


def test_case2_an_agent_acts_only_as_itself(agents: Agents) -> None:
    a = agents["a"]
    _lock(agents.main, "b", "src/f1.py")
    claimed = run_gitwarden("unlock", "src/f1.py", cwd=a, env={"GITWARDEN_AGENT": "b"})
    assert claimed.returncode == 2 and "acts only as itself" in claimed.stderr
    assert len(claimed.stderr.strip().splitlines()) == 1
    with Store.open(locate_repo(agents.main)) as store:
        assert [lock.agent for lock in list_locks(store)] == ["b"]
    [event] = events_of(agents.main, "identity.refused")
    assert event.agent == "a" and event.data["claimed"] == "b"
    # the hook refuses the claim too, and so does a Bash call making it
    assert "claims to be agent b" in _denied(
        _hook(a, "Edit", env={"GITWARDEN_AGENT": "b"}, file_path=str(a / "src/a.py")))
    # a paused agent cannot resume itself
    assert run_gitwarden("pause", "a", cwd=agents.main).returncode == 0
    resumed = run_gitwarden("resume", "a", cwd=a)
    assert resumed.returncode == 2 and "ask the user" in resumed.stderr
    assert "paused" in _denied(_hook(a, "Bash", command="gitwarden resume a"))
    assert run_gitwarden("status", cwd=a).returncode == 0  # reading is allowed


def test_case3_nested_repositories_submodules_and_symlinked_cwds(agents: Agents,
                                                                tmp_path: Path) -> None:
    a = agents["a"]
    nested = make_nested_repo(a / "vendor" / "nested")
    library = make_repo(tmp_path / "lib-src", {"lib.py": "l\n"}, name="lib")
    git(a, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "lib")
    _lock(agents.main, "b", "src/a.py", "refactor")
    for cwd in (nested, a / "lib"):
        reason = _denied(_hook(cwd, "Edit", file_path=str(a / "src" / "a.py")))
        assert "locked by agent b" in reason, cwd
    assert run_gitwarden("pause", "a", cwd=agents.main).returncode == 0
    for cwd in (nested, a / "lib"):
        assert "paused" in _denied(_hook(cwd, "Bash", command="make"))
    assert run_gitwarden("resume", "a", cwd=agents.main).returncode == 0
    # a path-mapped worktree reached through a symbolic link
    mapped = tmp_path / "elsewhere" / "wt-x"
    added = run_gitwarden("agent", "add", "x", "--path", str(mapped), "--scope", "docs/**",
                          cwd=agents.main)
    assert added.returncode == 0, added.stderr
    link = tmp_path / "link-to-x"
    link.symlink_to(mapped)
    reason = _denied(_hook(link, "Edit", file_path=str(link / "src" / "a.py")))
    assert "agent b" in reason or "outside the scope of agent x" in reason
    assert _hook(link, "Edit", file_path=str(link / "docs" / "api.rst")).stdout == ""


def test_case4_the_git_guard_follows_on_error(agents: Agents) -> None:
    a = agents["a"]
    assert run_gitwarden("hooks", "install", "--git", cwd=agents.main).returncode == 0
    write(agents.main, {"gitwarden.toml": "[locks]\ndefault_ttl = nan\n"})
    write(a, {"src/a.py": "x = 2\n"})
    git(a, "add", "src/a.py")
    refused = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=a, capture_output=True,
                             text=True, check=False)
    assert refused.returncode != 0
    assert "cannot check it" in refused.stderr and "gitwarden.toml:2" in refused.stderr
    write(agents.main, {"gitwarden.toml": "[hooks]\non_error = \"allow\"\n[locks]\n"
                                          "default_ttl = nan\n"})
    allowed = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=a, capture_output=True,
                             text=True, check=False)
    assert allowed.returncode == 0, allowed.stderr
    assert "on_error" in allowed.stderr


def _logged(main: Path, path: str) -> list[dict[str, object]]:
    out = run_gitwarden("log", "--path", path, "--json", cwd=main)
    return list(json.loads(out.stdout))


def test_case5_sed_temp_files_are_not_violations(tmp_path: Path) -> None:
    main = make_repo(tmp_path, {"src/a.py": "x = 1\n", "docs/x.md": "x\n"})
    git(main, "worktree", "add", "-q", "-b", "alpha", str(tmp_path / "alpha"))
    alpha = tmp_path / "alpha"
    write(main, {"gitwarden.toml": FAST + "pause_on_violation = true\n"
                 "[agents.alpha]\nscope = [\"src/a.py\"]\n"})
    daemon = DaemonProcess(main)
    try:
        for n in range(5):
            subprocess.run(["sed", "-i", f"s/x = .*/x = {n}/", "src/a.py"], cwd=alpha,
                           check=True)
        write(alpha, {"docs/x.md": "outside\n"})  # a real violation, seen after the seds
        found = wait_until(lambda: events_of(main, "violation.scope"), 10, "no violation",
                           daemon)
        assert [e.path for e in found] == ["docs/x.md"]
        assert not [e for e in events_of(main, "violation.scope") if "sed" in str(e.path)]
        assert events_of(main, "agent.paused") == [] or \
            all("docs/x.md" in e.message for e in events_of(main, "agent.paused"))
    finally:
        assert daemon.stop() == 0


def test_case6_gitwardens_own_writes_are_not_the_agents(tmp_path: Path) -> None:
    main = make_repo(tmp_path, {"docs/api.rst": "v1\n", "src/a.py": "a\n"})
    for name in ("alpha", "beta"):
        git(main, "worktree", "add", "-q", "-b", name, str(tmp_path / name))
    alpha = tmp_path / "alpha"
    write(main, {"gitwarden.toml": FAST})
    write(alpha, {"docs/api.rst": "v2\n"})
    assert run_gitwarden("checkpoint", "alpha", "--clean", cwd=main).returncode == 0
    daemon = DaemonProcess(main)
    try:
        write(alpha, {"docs/api.rst": "v3\n"})
        wait_until(lambda: _logged(main, "docs/api.rst"), 10, "edit not logged", daemon)
        before = len(_logged(main, "docs/api.rst"))
        _lock(main, "beta", "docs/api.rst")
        rolled = run_gitwarden("rollback", "alpha", "--yes", cwd=main)
        assert rolled.returncode == 0, rolled.stderr
        assert (alpha / "docs" / "api.rst").read_text() == "v2\n"
        write(alpha, {"src/a.py": "sentinel\n"})  # seen after the rollback's own writes
        wait_until(lambda: _logged(main, "src/a.py"), 10, "sentinel not logged", daemon)
        assert len(_logged(main, "docs/api.rst")) == before
        assert events_of(main, "violation.locked") == []
    finally:
        assert daemon.stop() == 0


def test_case7_locks_warn_and_dash_c_sets_identity(agents: Agents) -> None:
    more = agents["more"]
    write(more, {"more_itertools/more.py": "a = 2\n"})
    config = agents.main / "gitwarden.toml"
    text = config.read_text()
    config.write_text(text.replace('"src/**"', '"more_itertools/**"', 1))
    locked = run_gitwarden("lock", "more_itertools/**", cwd=agents["docs"])
    assert locked.returncode == 0, locked.stderr
    assert "scope of agent more" in locked.stderr and "scope of agent a" in locked.stderr
    assert "agent more has uncommitted changes under this lock (more_itertools/more.py)" \
        in locked.stderr
    assert events_of(agents.main, "lock.covers-others")
    via_c = run_gitwarden("-C", str(agents["b"]), "lock", "src/f1.py", cwd=agents.main)
    assert via_c.returncode == 0, via_c.stderr
    assert "for b " in via_c.stdout
    refused = run_gitwarden("-C", str(agents["b"]), "resume", "--all", cwd=agents.main)
    assert refused.returncode == 2 and "ask the user" in refused.stderr


def test_case9_agent_text_is_escaped_on_terminals(agents: Agents) -> None:
    evil = "\x1b[2J\x1b]0;owned\x07clear"
    sent = run_gitwarden("request", "--to", "b", evil, cwd=agents["a"])
    assert sent.returncode == 0, sent.stderr
    _lock(agents.main, "a", "src/f1.py", reason="\x1b[31mred")
    for args, cwd in ((("inbox",), agents["b"]), (("events",), agents.main),
                      (("locks",), agents.main)):
        out = run_gitwarden(*args, cwd=cwd)
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout and "\x07" not in out.stdout, args
    assert "\\x1b[2J" in run_gitwarden("inbox", cwd=agents["b"]).stdout
    assert "\\x1b[31mred" in run_gitwarden("locks", cwd=agents.main).stdout
    reason = _denied(_hook(agents["b"], "Edit", file_path=str(agents["b"] / "src/f1.py")))
    assert "\x1b" not in reason and "\\x1b[31mred" in reason

