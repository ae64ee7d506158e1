"""Context files in each worktree: ASSIGNMENT.md, STATE.md, REQUESTS.md, kept out of git."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.locks import acquire
from gitwarden.coordination.violations import check_paths
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from gitwarden.views.context_refresh import refresh_context_files
from tests.helpers.gitrepo import git, make_repo, make_repo_with_agents, run_gitwarden, write


def test_context_files_render_and_are_ignored(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    (repo.main / "gitwarden.toml").write_text(
        '[agents.alpha]\ntask = "build the refund flow"\nscope = ["src/**"]\n')
    write(repo.agents["alpha"], {"src/app.py": "changed\n"})
    write(repo.agents["beta"], {"src/app.py": "also changed\n"})
    assert run_gitwarden("lock", "src/app.py", "--reason", "refunds",
                         cwd=repo.agents["alpha"]).returncode == 0
    alpha_dir = repo.agents["alpha"] / ".gitwarden"
    assignment = (alpha_dir / "ASSIGNMENT.md").read_text()
    assert "build the refund flow" in assignment and "`src/**`" in assignment
    assert "gitwarden lock" in assignment
    state = (repo.agents["beta"] / ".gitwarden" / "STATE.md").read_text()
    assert "### alpha" in state and "`src/app.py`: alpha" in state and "refunds" in state
    assert "`src/app.py`: alpha, beta" in state  # the overlap
    for worktree in repo.agents.values():
        status = git(worktree, "status", "--porcelain")
        assert ".gitwarden" not in status
    # unchanged state: nothing rewritten
    workspace = Workspace.load(repo.main)
    with Store.open(workspace.repo) as store:
        assert refresh_context_files(workspace, store) == []


def test_requests_inbox_and_close(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    sent = run_gitwarden("request", "--to", "beta", "please release src/app.py", cwd=alpha)
    assert sent.returncode == 0 and "request #1 sent to beta" in sent.stdout
    requests_md = (beta / ".gitwarden" / "REQUESTS.md").read_text()
    assert "#1 from alpha" in requests_md and "please release src/app.py" in requests_md
    inbox = run_gitwarden("inbox", "--json", cwd=beta)
    data = json.loads(inbox.stdout)
    assert [(r["from"], r["text"]) for r in data["requests"]] == \
        [("alpha", "please release src/app.py")]
    assert run_gitwarden("request", "--close", "1", cwd=beta).returncode == 0
    assert "no open requests" in (beta / ".gitwarden" / "REQUESTS.md").read_text()
    assert "no open requests to beta" in run_gitwarden("inbox", cwd=beta).stdout
    for args in (("request", "--to", "nobody", "x"), ("request", "--close", "99"),
                 ("request", "--to", "beta")):
        bad = run_gitwarden(*args, cwd=alpha)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_done_and_wait(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    timeout = run_gitwarden("wait", "alpha", "--timeout", "0.3s", cwd=repo.main)
    assert timeout.returncode == 1 and "not done: alpha" in timeout.stdout
    done = run_gitwarden("done", "-m", "refunds shipped", cwd=repo.agents["alpha"])
    assert done.returncode == 0, done.stderr
    assert run_gitwarden("wait", "alpha", "--timeout", "5s", cwd=repo.main).returncode == 0
    assert run_gitwarden("wait", "alpha", "beta", "--timeout", "0.2s",
                         cwd=repo.main).returncode == 1
    state = (repo.agents["beta"] / ".gitwarden" / "STATE.md").read_text()
    assert "done: refunds shipped" in state
    bad = run_gitwarden("wait", "nobody", cwd=repo.main)
    assert bad.returncode == 2 and "unknown agent" in bad.stderr


def test_check_paths_reports_lock_and_scope_violations(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    (repo.main / "gitwarden.toml").write_text('[agents.beta]\nscope = ["docs/**"]\n')
    workspace = Workspace.load(repo.main)
    with Store.open(locate_repo(repo.main)) as store:
        assert acquire(store, "alpha", ["src/**"], ttl=600).granted
        found = check_paths(workspace, store, "beta",
                            ["src/app.py", "README.md", "docs/x.md",
                             str(repo.agents["beta"] / ".gitwarden" / "STATE.md")])
        assert [(v.path, v.kind, v.holder) for v in found] == \
            [("src/app.py", "locked", "alpha"), ("README.md", "scope", None)]
        assert check_paths(workspace, store, "alpha", ["src/app.py"]) == []


def test_file_names_that_are_not_utf8_do_not_break_commands(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("a1", "a2"))
    a1, a2 = repo.agents["a1"], repo.agents["a2"]
    (a1 / os.fsdecode(b"bad\xffname.txt")).write_bytes(b"b")
    for args in (("pause", "a1"), ("resume", "a1"), ("lock", "README.md"),
                 ("unlock", "README.md"), ("request", "--to", "a2", "look"),
                 ("lock", "README.md", "--wait", "1s"), ("stop",), ("resume", "--all")):
        user_only = args[0] in ("pause", "resume", "stop")
        result = run_gitwarden(*args, cwd=repo.main if user_only else a1)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stderr == "", (args, result.stderr)
    state = (a2 / ".gitwarden" / "STATE.md").read_bytes().decode("utf-8")
    assert "`bad\\xffname.txt`" in state
    # a lock on such a name is refused in one line; free text is stored printable
    refused = run_gitwarden("lock", os.fsdecode(b"bad\xffname.txt"), cwd=a1)
    assert refused.returncode == 2 and "not valid UTF-8" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    sent = run_gitwarden("request", "--to", "a2", os.fsdecode(b"see bad\xffname"), cwd=a1)
    assert sent.returncode == 0, sent.stderr
    assert "see bad\\xffname" in (a2 / ".gitwarden" / "REQUESTS.md").read_text()


def test_failing_context_refresh_keeps_the_state_change(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("a1", "a2"))
    a1 = repo.agents["a1"]
    (a1 / ".gitwarden").write_text("not a directory\n")  # the context files cannot be written
    paused = run_gitwarden("pause", "a1", cwd=repo.main)
    assert paused.returncode == 0, paused.stderr
    assert "could not refresh the context files" in paused.stderr
    assert "Traceback" not in paused.stderr
    with Store.open(locate_repo(repo.main)) as store:
        kinds = [event.kind for event in list_events(store, limit=50)]
    assert "agent.paused" in kinds and "context.refresh-failed" in kinds
    assert (repo.agents["a2"] / ".gitwarden" / "STATE.md").exists()  # the others still written
    assert "PAUSED" in (repo.agents["a2"] / ".gitwarden" / "STATE.md").read_text()


def test_requests_to_oneself_double_close_and_inbox_hint(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    alpha, beta = repo.agents["alpha"], repo.agents["beta"]
    to_self = run_gitwarden("request", "--to", "alpha", "do it yourself", cwd=alpha)
    assert to_self.returncode == 2 and "itself" in to_self.stderr
    assert json.loads(run_gitwarden("inbox", "--json", cwd=alpha).stdout)["requests"] == []
    assert run_gitwarden("request", "--to", "beta", "x", cwd=alpha).returncode == 0
    assert run_gitwarden("request", "--close", "1", cwd=beta).returncode == 0
    again = run_gitwarden("request", "--close", "1", cwd=beta)
    assert again.returncode == 1
    assert "request #1 is already closed (by beta" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    nobody = run_gitwarden("inbox", cwd=repo.main)
    assert nobody.returncode == 2 and "gitwarden inbox AGENT" in nobody.stderr
    assert "--agent" not in nobody.stderr
    assert run_gitwarden("inbox", "beta", cwd=repo.main).returncode == 0


def test_agent_add_writes_the_context_files_with_no_state_yet(tmp_path: Path) -> None:
    main = make_repo(tmp_path)
    assert not (locate_repo(main).state_dir / "state.db").exists()
    added = run_gitwarden("agent", "add", "docs", "--task", "update the guide", cwd=main)
    assert added.returncode == 0, added.stderr
    docs = next(p for p in tmp_path.rglob("ASSIGNMENT.md")).parent.parent
    assert "update the guide" in (docs / ".gitwarden" / "ASSIGNMENT.md").read_text()
    assert "### docs" in (docs / ".gitwarden" / "STATE.md").read_text()
    assert (docs / ".gitwarden" / "REQUESTS.md").exists()
    assert git(docs, "status", "--porcelain", "--untracked-files=all") == ""
