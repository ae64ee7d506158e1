"""`gitwarden events`: kinds listed, --kind by area with a suggestion on a miss, and the
events that were missing (lock.acquired, request.closed, agent.added, agent.removed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, list_events, record_event
from tests.helpers.gitrepo import make_repo_with_agents, run_gitwarden

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _kinds(main: Path) -> list[str]:
    with Store.open(Workspace.load(main).repo) as store:
        return [event.kind for event in list_events(store)]


def test_kinds_are_listed_by_kinds_and_in_help(tmp_path: Path) -> None:
    listed = run_gitwarden("events", "--kinds", cwd=tmp_path)
    assert listed.returncode == 0
    assert listed.stdout.split() == [kind.value for kind in EventKind]
    helped = run_gitwarden("events", "--help", cwd=tmp_path).stdout
    assert "  health:      pass, fail, skip," in helped
    assert "  lock:        released, force-released, stale-released, acquired" in helped


def test_a_kind_that_names_nothing_gets_a_suggestion(tmp_path: Path) -> None:
    proc = run_gitwarden("events", "--kind", "helth", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == ("gitwarden: error: --kind 'helth': no such event kind (did you mean "
                           "'health'?); `gitwarden events --kinds` lists them\n")


def test_lock_and_request_events_are_recorded(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    alpha = repo.agents["alpha"]
    assert run_gitwarden("lock", "src/app.py", "--reason", "refunds", cwd=alpha).returncode == 0
    assert run_gitwarden("lock", "src/app.py", cwd=alpha).returncode == 0  # a renewal
    assert run_gitwarden("unlock", "src/app.py", cwd=alpha).returncode == 0
    assert run_gitwarden("request", "--to", "beta", "rebase please", cwd=alpha).returncode == 0
    assert run_gitwarden("request", "--close", "1", cwd=repo.agents["beta"]).returncode == 0
    assert _kinds(repo.main) == ["lock.acquired", "lock.released", "request.sent",
                                 "request.closed"]
    proc = run_gitwarden("events", "--kind", "lock", "--json", cwd=repo.main)
    messages = [e["message"] for e in json.loads(proc.stdout)]
    assert messages == ["alpha locked 'src/app.py': refunds", "alpha released 'src/app.py'"]


def test_agent_added_and_removed_are_recorded(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=())
    assert run_gitwarden("agent", "add", "docs", cwd=repo.main).returncode == 0
    assert run_gitwarden("agent", "remove", "docs", cwd=repo.main).returncode == 0
    with Store.open(Workspace.load(repo.main).repo) as store:
        events = list_events(store, kinds=["agent.added", "agent.removed"])
    assert [(e.kind, e.agent) for e in events] == [("agent.added", "docs"),
                                                   ("agent.removed", "docs")]
    assert events[0].message.endswith("on branch agent/docs")


def test_event_lines_line_up_with_colour_forced_on(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",))
    with Store.open(Workspace.load(repo.main).repo) as store:
        record_event(store, EventKind.LOCK_ACQUIRED, "first", agent="alpha")
        record_event(store, EventKind.HEALTH_CULPRIT_KNOWN, "second", severity="warning")
    proc = run_gitwarden("events", cwd=repo.main, env={"FORCE_COLOR": "1"})
    assert "\x1b[33mhealth.culprit-known\x1b[0m" in proc.stdout
    plain = [ANSI.sub("", line) for line in proc.stdout.splitlines()]
    assert [line.index(word) for line, word in zip(plain, ("[alpha]", "second"), strict=True)] \
        == [20 + max(len(k.value) for k in EventKind) + 1] * 2


def test_kinds_found_in_the_log_are_accepted(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",))
    with Store.open(Workspace.load(repo.main).repo) as store:
        record_event(store, "legacy.renamed", "written by an older version")  # type: ignore[arg-type]
    proc = run_gitwarden("events", "--kind", "legacy", "--json", cwd=repo.main)
    assert proc.returncode == 0, proc.stderr
    assert [e["kind"] for e in json.loads(proc.stdout)] == ["legacy.renamed"]
