"""The hook client gives the same answers with and without a daemon.

The cases of the guards issue (tests/integrations/test_guards_hold.py, test_claude_hook.py,
test_git_guard.py): shell writes, user-only commands, bypasses, identity claims, locks, scopes,
a paused agent, nested repositories and submodules, bad input; real `git commit` and
`git push` through the installed guards. Each runs three ways: the hook run directly
(`gitwarden hook ...`), the installed client with no daemon (its fallback), and the installed
client answered by a real running daemon; the answers must be identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitwarden.coordination.locks import acquire
from gitwarden.git.repository import locate_repo
from gitwarden.integrations import hook_client
from gitwarden.integrations.claude_settings import HOOK_CLIENT
from gitwarden.store.db import Store
from tests.helpers.agents import add_scoped_agents, pause_by_the_user
from tests.helpers.daemonproc import DaemonProcess
from tests.helpers.gitrepo import git, make_nested_repo, make_repo, run_gitwarden, write

FILES = {"README.md": "r\n", "more_itertools/more.py": "a = 1\n", "docs/api.rst": "api\n",
         "src/f1.py": "f1\n", "src/a.py": "x = 1\n"}
Answer = tuple[int, str, str]


@pytest.fixture()
def repo(tmp_path: Path) -> dict[str, Path]:
    main = make_repo(tmp_path, FILES)
    paths = {"main": main}
    paths.update(add_scoped_agents(main, {"a": "src/**", "b": "src/**", "docs": "docs/**",
                                          "more": "more_itertools/**"}))
    with Store.open(locate_repo(main)) as store:
        assert acquire(store, "b", ["src/f1.py"], ttl=3600, reason="refactor").granted
    pause_by_the_user(main, "more")
    paths["nested"] = make_nested_repo(paths["a"] / "vendor" / "nested")
    assert run_gitwarden("hooks", "install", "--git", cwd=main).returncode == 0
    return paths


def _claude_cases(p: dict[str, Path]) -> list[tuple[Path, str, dict[str, str]]]:
    def call(cwd: Path, tool: str, **tool_input: str) -> str:
        return json.dumps({"session_id": "s", "cwd": str(cwd), "hook_event_name": "PreToolUse",
                           "tool_name": tool, "tool_input": tool_input})

    docs, a = p["docs"], p["a"]
    bash = ["sed -i 's/1/2/' more_itertools/more.py", f"rm -rf {p['more']}",
            "cd ../more && git reset --hard HEAD~2", "gitwarden resume --all",
            "gitwarden unlock docs/api.rst --force", "GITWARDEN_BYPASS=1 git commit -m x",
            "sed -i 's/api/API/' docs/api.rst", "echo hi > src/f1.py", "ls -la"]
    cases = [(docs, call(docs, "Bash", command=c), {}) for c in bash]
    cases += [
        (a, call(a, "Edit", file_path=str(a / "src/f1.py")), {}),  # locked by b
        (a, call(a, "Edit", file_path=str(a / "src/a.py")), {}),  # free
        (a, call(a, "Write", file_path=str(a / "docs/api.rst")), {}),  # out of scope
        (a, call(a, "Edit", file_path=str(a / "src/a.py")), {"GITWARDEN_AGENT": "b"}),
        (p["more"], call(p["more"], "Bash", command="make"), {}),  # paused
        (p["nested"], call(p["nested"], "Edit", file_path=str(a / "src/f1.py")), {}),
        (p["main"], call(p["main"], "Edit", file_path=str(a / "src/f1.py")), {}),  # the user
        (a, call(a, "Read", file_path=str(a / "src/f1.py")), {}),
        (a, "{not json", {}),
        (a, "[1, 2]", {}),
        (a, json.dumps({"tool_name": "Edit", "tool_input": {"file_path": "src/f1.py"}}), {}),
    ]
    return cases


def _run_claude(cases: list[tuple[Path, str, dict[str, str]]], direct: bool) -> list[Answer]:
    answers = []
    for cwd, text, env in cases:
        if direct:
            proc = run_gitwarden("hook", "claude", cwd=cwd, env=env, input_text=text)
        else:  # the installed client: a fresh `python -I -S` is what is tested
            proc = subprocess.run([sys.executable, "-I", "-S", str(HOOK_CLIENT), "claude"],
                                  cwd=cwd, input=text, capture_output=True, text=True,
                                  env={**os.environ, **env}, timeout=60, check=False)
        answers.append((proc.returncode, proc.stdout, ""))
    return answers


def _run_git(p: dict[str, Path], tmp_path: Path) -> list[Answer]:
    """Commits and a push through the installed guards; each allowed commit is undone."""
    answers: list[Answer] = []
    remote = tmp_path / "remote.git"
    if not remote.exists():
        git(tmp_path, "init", "-q", "--bare", str(remote))
    for agent, files, env in (("a", {"src/f1.py": "f1 two\n"}, {}),  # locked by b
                              ("a", {"src/a.py": "x = 3\n"}, {}),  # allowed
                              ("docs", {"src/a.py": "x = 4\n"}, {}),  # out of scope
                              ("more", {"more_itertools/more.py": "a = 5\n"}, {}),  # paused
                              ("a", {"src/f1.py": "f1 3\n"}, {"GITWARDEN_BYPASS": "1",
                                                              "CLAUDECODE": "1"}),
                              ("b", {"src/f1.py": "f1 b\n"}, {})):  # the holder
        cwd = p[agent]
        write(cwd, files)
        git(cwd, "add", *files)
        proc = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=cwd, capture_output=True,
                              text=True, env={**os.environ, **env}, timeout=60, check=False)
        answers.append((proc.returncode, "", proc.stderr))
        if proc.returncode == 0:
            git(cwd, "reset", "-q", "--soft", "HEAD~1")
        git(cwd, "reset", "-q", "--hard", "HEAD")
    # a commit touching b's locked file, pushed by a (its commit made past the guard)
    a = p["a"]
    write(a, {"src/f1.py": "pushed\n"})
    git(a, "commit", "-q", "--no-verify", "-am", "push me")
    proc = subprocess.run(["git", "push", "-q", str(remote), "HEAD:refs/heads/a"], cwd=a,
                          capture_output=True, text=True, timeout=60, check=False)
    answers.append((proc.returncode, "", proc.stderr))
    git(a, "reset", "-q", "--hard", "HEAD~1")
    return answers


def test_same_answers_with_and_without_a_daemon(repo: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _claude_cases(repo)
    direct = _run_claude(cases, direct=True)
    assert sum(1 for _, out, _ in direct if '"deny"' in out) >= 12  # the cases do deny
    no_daemon = _run_claude(cases, direct=False)
    git_no_daemon = _run_git(repo, tmp_path)
    assert [code for code, _, _ in git_no_daemon] == [1, 0, 1, 1, 1, 0, 1]

    daemon = DaemonProcess(repo["main"])
    try:
        # the daemon answers these itself (no fallback) ...
        for cwd, text, env in cases[:3]:
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            reply = hook_client.ask_daemon("claude", str(cwd), text, [])
            assert reply is not None and reply["exit"] == 0
        # ... and the installed client gives the same answers as with no daemon
        with_daemon = _run_claude(cases, direct=False)
        git_with_daemon = _run_git(repo, tmp_path)
    finally:
        assert daemon.stop() == 0
    assert with_daemon == no_daemon == direct
    assert git_with_daemon == git_no_daemon


def test_no_daemon_answers_for_another_repository(repo: dict[str, Path],
                                                  tmp_path: Path) -> None:
    other = make_repo(tmp_path / "other", {"x.py": "x\n"}, name="other")
    daemon = DaemonProcess(repo["main"])
    try:
        reply = daemon.request("hook", kind="claude", cwd=str(other), input="{}", env={},
                               argv=[])
        assert reply["ok"] is False
        call = json.dumps({"cwd": str(repo["a"]), "hook_event_name": "PreToolUse"})
        assert hook_client.ask_daemon("claude", str(repo["a"]), call, []) is not None
    finally:
        assert daemon.stop() == 0


def test_the_client_imports_nothing_of_gitwarden(repo: dict[str, Path]) -> None:
    payload = json.dumps({"cwd": str(repo["a"]), "tool_name": "Edit", "hook_event_name":
                          "PreToolUse", "tool_input": {"file_path": str(repo["a"] / "x")}})
    daemon = DaemonProcess(repo["main"])
    try:
        proc = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime",
                               str(HOOK_CLIENT), "claude"], cwd=repo["a"], input=payload,
                              capture_output=True, text=True, timeout=60, check=True)
    finally:
        assert daemon.stop() == 0
    imported = [line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "_socket" in imported and "_json" in imported
    assert not [name for name in imported if name.startswith((
        "gitwarden", "site", "sqlite", "subprocess", "json", "socket", "re", "enum"))]


def test_the_daemon_sees_config_and_worktree_changes_at_once(repo: dict[str, Path],
                                                             tmp_path: Path) -> None:
    docs, main = repo["docs"], repo["main"]
    write(docs, {"src/a.py": "x = 9\n"})
    git(docs, "add", "src/a.py")
    daemon = DaemonProcess(main)
    try:
        refused = hook_client.ask_daemon("pre-commit", str(docs), "", [])
        assert refused is not None and refused["exit"] == 1
        assert "outside its scope" in str(refused["stderr"])
        config = (main / "gitwarden.toml").read_text()
        (main / "gitwarden.toml").write_text(config.replace('"docs/**"', '"docs/**", "src/**"'))
        allowed = hook_client.ask_daemon("pre-commit", str(docs), "", [])
        assert allowed is not None and allowed["exit"] == 0, allowed
        # a worktree made after the daemon's last answer is an agent at once
        added = run_gitwarden("agent", "add", "late", "--scope", "docs/**", cwd=main)
        assert added.returncode == 0, added.stderr
        late = main.parent / f"{main.name}-agents" / "late"
        write(late, {"src/a.py": "x = 10\n"})
        git(late, "add", "src/a.py")
        late_refused = hook_client.ask_daemon("pre-commit", str(late), "", [])
        assert late_refused is not None and late_refused["exit"] == 1
        direct = run_gitwarden("hook", "pre-commit", cwd=late)
        assert (direct.returncode, direct.stderr) == (1, late_refused["stderr"])
    finally:
        assert daemon.stop() == 0


def test_no_daemon_the_client_runs_gitwardens_hook_not_the_worktrees(
        repo: dict[str, Path]) -> None:
    """An agent's branch may hold a `gitwarden` package (say, gitwarden's own sources): the
    client's direct path never imports it from the working directory."""
    a = repo["a"]
    write(a, {"gitwarden/__init__.py": "", "gitwarden/integrations/__init__.py": "",
              "gitwarden/integrations/claude_hook.py": "print('planted')\n",
              "gitwarden/__main__.py": "print('planted')\n"})
    payload = json.dumps({"cwd": str(a), "hook_event_name": "PreToolUse", "tool_name": "Edit",
                          "tool_input": {"file_path": str(a / "src/f1.py")}})
    for text in (payload, "{not json"):
        proc = subprocess.run([sys.executable, "-I", "-S", str(HOOK_CLIENT), "claude"], cwd=a,
                              input=text, capture_output=True, text=True, timeout=60,
                              check=False)
        assert "planted" not in proc.stdout and '"deny"' in proc.stdout, proc
    git(a, "add", "src/f1.py")
    proc = subprocess.run([sys.executable, "-I", "-S", str(HOOK_CLIENT), "pre-commit"], cwd=a,
                          capture_output=True, text=True, timeout=60, check=False)
    assert "planted" not in proc.stdout + proc.stderr, proc


def _adapter_cases(p: dict[str, Path]) -> list[tuple[str, Path, str]]:
    a, docs = p["a"], p["docs"]
    patch = ("*** Begin Patch\n*** Update File: src/a.py\n@@\n-x\n+y\n"
             "*** Update File: src/f1.py\n@@\n-f1\n+f2\n*** End Patch\n")
    cases = [
        ("codex", a, {"hook_event_name": "PreToolUse", "cwd": str(a), "tool_name": "apply_patch",
                      "tool_input": {"command": patch}}),  # src/f1.py locked by b
        ("codex", docs, {"hook_event_name": "PreToolUse", "cwd": str(docs), "tool_name": "Bash",
                         "tool_input": {"command": "echo hi > src/a.py"}}),  # out of scope
        ("codex", a, {"hook_event_name": "UserPromptSubmit", "cwd": str(a)}),
        ("gemini", a, {"hook_event_name": "BeforeTool", "cwd": str(a), "tool_name": "replace",
                       "tool_input": {"file_path": "docs/api.rst"}}),  # out of scope
        ("gemini", a, {"hook_event_name": "BeforeTool", "cwd": str(a),
                       "tool_name": "write_file", "tool_input": {"file_path": "src/a.py"}}),
        ("opencode", p["more"], {"hook_event_name": "tool.execute.before", "cwd": str(p["more"]),
                                 "tool": "bash", "args": {"command": "make"}}),  # paused
        ("opencode", a, {"hook_event_name": "tool.execute.before", "cwd": str(a),
                         "tool": "edit", "args": {"filePath": str(a / "src/f1.py")}}),
        ("claude-context", a, {"hook_event_name": "UserPromptSubmit", "cwd": str(a)}),
        ("claude-context", p["more"], {"hook_event_name": "SessionStart", "cwd": str(p["more"])}),
    ]
    return [(kind, cwd, json.dumps(payload)) for kind, cwd, payload in cases]


def _run_adapters(cases: list[tuple[str, Path, str]], direct: bool) -> list[Answer]:
    modules = {"codex": "codex_hook", "gemini": "gemini_hook", "opencode": "opencode_hook",
               "claude-context": "claude_context"}
    answers = []
    for kind, cwd, text in cases:
        argv = [sys.executable, "-m", f"gitwarden.integrations.{modules[kind]}"] if direct \
            else [sys.executable, "-I", "-S", str(HOOK_CLIENT), kind]
        proc = subprocess.run(argv, cwd=cwd, input=text, capture_output=True, text=True,
                              timeout=60, check=False)
        answers.append((proc.returncode, proc.stdout, ""))
    return answers


def test_every_adapter_answers_the_same_with_and_without_a_daemon(
        repo: dict[str, Path]) -> None:
    cases = _adapter_cases(repo)
    direct = _run_adapters(cases, direct=True)
    assert sum(1 for _, out, _ in direct if '"deny"' in out) == 5  # the cases do deny
    assert "paused" in direct[5][1] and "locked" in direct[6][1]
    no_daemon = _run_adapters(cases, direct=False)
    daemon = DaemonProcess(repo["main"])
    try:
        for kind, cwd, text in cases:  # the daemon answers these itself (no fallback)
            assert hook_client.ask_daemon(kind, str(cwd), text, []) is not None, (kind, text)
        with_daemon = _run_adapters(cases, direct=False)
    finally:
        assert daemon.stop() == 0
    assert with_daemon == no_daemon == direct
