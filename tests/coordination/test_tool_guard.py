"""The hook decision core on shell commands: one table of command lines and the decision for
each, against real worktrees (agents `a` with scope src/** and a lock held by `b` on
src/locked.py, `b`, `more`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gitwarden.agents.identity import worktree_roots
from gitwarden.coordination.tool_guard import (
    EDIT,
    OTHER,
    SHELL,
    GuardFacts,
    HeldLock,
    ToolRequest,
    decide,
)
from tests.helpers.gitrepo import RepoWithAgents, make_repo_with_agents

FILES = {"README.md": "r\n", "src/app.py": "a\n", "src/locked.py": "l\n",
         "docs/api.rst": "d\n", "src/pkg/mod.py": "m\n"}
ALLOW = "allow"

# (command run in a's worktree, "allow" or a piece of the deny reason)
CASES: list[tuple[str, str]] = [
    # reads, pipelines, chains, quoting: allowed
    ("ls -la", ALLOW),
    ("cat src/locked.py | grep x", ALLOW),
    ("git status && git diff", ALLOW),
    ("git log --oneline -5 | head", ALLOW),
    ("echo 'rm -rf /' > /dev/null", ALLOW),
    ("grep -rn 'sed -i' docs", ALLOW),
    ("pytest -q tests", ALLOW),
    ("python -c 'print(1)'", ALLOW),
    ("echo \"$(cat src/locked.py)\"", ALLOW),
    ("cd src && ls", ALLOW),
    # writes inside scope, not locked: allowed
    ("echo hi > src/app.py", ALLOW),
    ("sed -i 's/a/b/' src/app.py", ALLOW),
    ("cat <<'EOF' > src/new.py\nprint(1)\nEOF", ALLOW),
    ("touch src/pkg/new.py && git add src/pkg/new.py", ALLOW),
    ("cp src/app.py src/copy.py", ALLOW),
    ("mv src/app.py src/renamed.py", ALLOW),
    ("echo x | tee -a src/log.txt", ALLOW),
    ("(cd src && rm -f app.py)", ALLOW),
    ("rm -rf /tmp/scratch-dir", ALLOW),
    ("echo ok > /tmp/out.txt 2>&1", ALLOW),
    ("git checkout -- src/app.py", ALLOW),
    ("truncate -s 0 src/app.py", ALLOW),
    ("for f in src/*.py; do echo \"$f\"; done", ALLOW),
    ("echo $(date) >> \"$LOG\"", ALLOW),
    # locked by b
    ("echo x > src/locked.py", "locked by agent b"),
    ("sed -i.bak -e 's/a/b/' src/locked.py", "locked by agent b"),
    ("cd src && echo x >> locked.py", "locked by agent b"),
    ("rm -rf src", "locked by agent b"),
    ("git checkout -- src/locked.py", "locked by agent b"),
    ("true && (echo 1; echo 2) > src/locked.py", "locked by agent b"),
    ("bash -c 'rm src/locked.py'", "locked by agent b"),
    ("echo $(rm src/locked.py)", "locked by agent b"),
    ("cp /etc/hostname src/locked.py", "locked by agent b"),
    ("find src -name '*.pyc' -delete", "locked by agent b"),
    # outside the scope src/**
    ("sed -i 's/x/y/' docs/api.rst", "outside the scope of agent a"),
    ("echo x > README.md", "outside the scope of agent a"),
    ("touch \"docs/new file.rst\"", "outside the scope of agent a"),
    ("mv src/app.py docs/app.py", "outside the scope of agent a"),
    ("git restore docs/api.rst", "outside the scope of agent a"),
    # another worktree
    ("rm -rf ../more", "agent more"),
    ("cd ../more && git reset --hard HEAD~2", "agent more"),
    ("git -C ../b stash", "agent b"),
    ("echo x > ../b/README.md", "agent b"),
    ("cd ../b; make", "agent b"),
    ("rm -rf ../repo/.git/gitwarden", "git's own directory"),
    # gitwarden: user commands, claims, bypass
    ("gitwarden resume --all", "ask the user"),
    ("gitwarden stop", "ask the user"),
    ("gitwarden unlock docs/api.rst --force", "ask the user"),
    ("gitwarden hooks uninstall --claude", "ask the user"),
    ("python -m gitwarden pause b", "ask the user"),
    ("GITWARDEN_BYPASS=1 git commit -m x", "GITWARDEN_BYPASS"),
    ("export GITWARDEN_BYPASS=1; git push", "GITWARDEN_BYPASS"),
    ("env GITWARDEN_BYPASS=1 git commit", "GITWARDEN_BYPASS"),
    ("GITWARDEN_AGENT=b gitwarden unlock src/locked.py", "claim"),
    ("gitwarden unlock src/locked.py --agent b", "act only as yourself"),
    ("gitwarden -C ../b unlock src/locked.py", "agent b"),
    ("gitwarden lock src/app.py && gitwarden inbox", ALLOW),
    ("gitwarden done -m 'finished'", ALLOW),
    # what cannot be parsed is left to the watcher
    ("echo \"unterminated > src/locked.py", ALLOW),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> RepoWithAgents:
    return make_repo_with_agents(tmp_path_factory.mktemp("guard"), names=("a", "b", "more"),
                                 files=FILES)


def _facts(repo: RepoWithAgents, paused: str | None = None) -> GuardFacts:
    common = str(repo.main / ".git")
    now = time.time()
    lock = HeldLock("src/locked.py", "b", "refactor", now + 600)
    worktrees = {root: (name or None) for root, name in worktree_roots(common)}
    return GuardFacts(str(repo.agents["a"]), ("src/**",), [lock], paused, worktrees, common,
                      now)


@pytest.mark.parametrize(("command", "expected"), CASES, ids=[c for c, _ in CASES])
def test_shell_command_decision(repo: RepoWithAgents, command: str, expected: str) -> None:
    cwd = os.path.realpath(repo.agents["a"])
    decision = decide(ToolRequest("a", SHELL, cwd, command=command), _facts(repo))
    if expected == ALLOW:
        assert decision.allow, decision.reason
    else:
        assert not decision.allow, command
        assert expected in str(decision.reason), decision.reason


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert sum(1 for _, e in CASES if e == ALLOW) >= 15


def test_deny_reasons_quote_paths_for_the_shell(repo: RepoWithAgents, tmp_path: Path) -> None:
    now = time.time()
    evil = "src/$(touch${IFS}/tmp/PWNED).py"
    facts = _facts(repo)
    facts.locks = [HeldLock(evil, "b", "", now + 60)]
    path = str(repo.agents["a"] / evil)
    reason = str(decide(ToolRequest("a", EDIT, str(repo.agents["a"]), paths=[path]),
                        facts).reason)
    assert "gitwarden lock 'src/$(touch${IFS}/tmp/PWNED).py' --wait" in reason


def test_pause_denies_everything_but_other_tools(repo: RepoWithAgents) -> None:
    facts = _facts(repo, paused="agent a is paused")
    cwd = str(repo.agents["a"])
    assert not decide(ToolRequest("a", SHELL, cwd, command="ls"), facts).allow
    assert decide(ToolRequest("a", OTHER, cwd), facts).allow
