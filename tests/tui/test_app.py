"""`gitwarden top` driven headless by Textual's Pilot, on real repositories, with a real
daemon process where the screen is fed by the daemon."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pauses import pause_info
from gitwarden.health.table import clear_progress, set_progress
from gitwarden.landing.queue import EJECTED, entries, set_state
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from gitwarden.tui.app import AGENT_COLUMNS, TopApp, health_cell
from gitwarden.tui.screens import ConfirmScreen, TextScreen
from tests.helpers.daemonproc import DaemonProcess
from tests.helpers.gitrepo import (
    RepoWithAgents,
    commit_all,
    git,
    make_repo_with_agents,
    run_gitwarden,
    write,
)

SIZE = (140, 45)


async def until(pilot: Pilot[None], check: Callable[[], object], what: str,
                timeout: float = 60) -> float:
    """Let the app run until `check()` holds; returns how long that took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} (after {timeout}s)")
        await pilot.pause(0.05)
    return time.monotonic() - started


def _text(app: TopApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


def _agent_rows(app: TopApp) -> list[str]:
    table: DataTable[object] = app.query_one("#agents", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


@pytest.fixture()
def watched(tmp_path: Path) -> Iterator[RepoWithAgents]:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta", "gamma"))
    daemon = DaemonProcess(repo.main)
    try:
        yield repo
    finally:
        daemon.stop()


def test_agents_panel_lists_the_agents_fed_by_the_daemon(watched: RepoWithAgents) -> None:
    async def scenario() -> None:
        app = TopApp(Workspace.load(watched.main))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.data is not None, "no reading")
            assert _agent_rows(app) == ["alpha", "beta", "gamma"]
            assert "live from the daemon (pid " in _text(app, "#source")
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(scenario())


def test_an_overlap_made_meanwhile_appears_in_the_matrix(watched: RepoWithAgents) -> None:
    async def scenario() -> float:
        app = TopApp(Workspace.load(watched.main))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.data is not None, "no reading")
            assert "✗1" not in _text(app, "#matrix")
            write(watched.agents["alpha"], {"src/app.py": "print('alpha')\n"})
            write(watched.agents["beta"], {"src/app.py": "print('beta')\n"})
            # Measured, not asserted (no timed assertions): the figure is in the output.
            return await until(pilot, lambda: "✗1" in _text(app, "#matrix"),
                               "the overlap never reached the matrix")

    took = asyncio.run(scenario())
    print(f"overlap on screen {took:.2f}s after the second write")


def test_p_pauses_the_selected_agent(watched: RepoWithAgents) -> None:
    workspace = Workspace.load(watched.main)

    async def scenario() -> None:
        app = TopApp(workspace)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.data is not None, "no reading")
            await pilot.press("down")
            assert app.selected_agent() == "beta"
            await pilot.press("p")
            with Store.open(workspace.repo) as store:
                await until(pilot, lambda: pause_info(store, "beta") is not None,
                            "beta was not paused")
                info = pause_info(store, "beta")
                assert info is not None and info.by == "user"
                assert pause_info(store, "alpha") is None
            await until(pilot, lambda: "paused" in str(
                app.query_one("#agents", DataTable).get_row_at(1)[1]), "state not shown")
            await pilot.press("r")
            with Store.open(workspace.repo) as store:
                await until(pilot, lambda: pause_info(store, "beta") is None,
                            "beta was not resumed")

    asyncio.run(scenario())


def test_b_shows_the_dry_run_and_changes_nothing_until_confirmed(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",))
    alpha = repo.agents["alpha"]
    write(alpha, {"src/app.py": "good\n"})
    assert run_gitwarden("checkpoint", "alpha", "--clean", cwd=repo.main).returncode == 0
    write(alpha, {"src/app.py": "broken\n", "junk.txt": "junk\n"})
    head = git(alpha, "rev-parse", "HEAD")
    workspace = Workspace.load(repo.main)

    def untouched() -> bool:
        with Store.open(workspace.repo) as store:
            applied = list_events(store, kinds=["rollback.applied"])
        return (not applied and (alpha / "src/app.py").read_text() == "broken\n"
                and (alpha / "junk.txt").exists() and git(alpha, "rev-parse", "HEAD") == head)

    async def scenario() -> None:
        app = TopApp(workspace)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.data is not None, "no reading")
            await pilot.press("b")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "no dry run")
            plan = str(app.screen.query_one("#plan", Static).content)
            assert plan.splitlines()[0].startswith("would roll back alpha to checkpoint ")
            assert "  overwrite src/app.py" in plan and "  delete junk.txt" in plan
            assert plan.endswith("Proceed? y / N")
            await pilot.pause(0.5)
            assert untouched()
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "not closed")
            await pilot.pause(0.5)
            assert untouched()
            await pilot.press("b")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "no dry run")
            await pilot.press("y")
            await until(pilot, lambda: (alpha / "src/app.py").read_text() == "good\n",
                        "the confirmed rollback did not happen")
            assert not (alpha / "junk.txt").exists()

    asyncio.run(scenario())


def _agent_cell(app: TopApp, name: str, column: str) -> str:
    table: DataTable[object] = app.query_one("#agents", DataTable)
    row = _agent_rows(app).index(name)
    return str(table.get_row_at(row)[AGENT_COLUMNS.index(column)])


def test_the_queue_panel_shows_an_agent_queued_meanwhile_and_why_one_was_ejected(
        tmp_path: Path) -> None:
    # No daemon: it would land the queued agents; the panel is read from the store.
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    for name in ("alpha", "beta"):
        write(repo.agents[name], {f"{name}.txt": f"{name}\n"})
        commit_all(repo.agents[name], name)
    workspace = Workspace.load(repo.main)

    def queue_lines() -> list[str]:
        return _text(app, "#queue").splitlines()

    app = TopApp(workspace, poll_interval=0.1)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.data is not None, "no reading")
            assert queue_lines()[0].startswith("queue empty")
            proc = run_gitwarden("land", "alpha", "beta", "--no-wait", cwd=repo.main)
            assert proc.returncode == 0, proc.stderr
            await until(pilot, lambda: len(queue_lines()) == 3, "the queued agents never showed")
            header, first, second = queue_lines()
            assert header.split() == ["#", "agent", "state", "time", "reason"]
            assert first.split()[:3] == ["1", "alpha", "queued"]
            assert second.split()[:3] == ["2", "beta", "queued"]
            with Store.open(workspace.repo) as store:
                alpha = next(e for e in entries(store) if e.agent == "alpha")
                set_state(store, alpha.id, EJECTED, reason="check tests failed on the candidate")
            await until(pilot, lambda: "ejected" in _text(app, "#queue"), "ejection not shown")
            header, first, second = queue_lines()
            assert first.split()[:3] == ["1", "beta", "queued"]
            assert second.split()[:3] == ["-", "alpha", "ejected"]
            assert second.endswith("check tests failed on the candidate")

    asyncio.run(scenario())


def test_with_a_daemon_the_queue_panel_follows_an_agent_until_it_landed(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    write(repo.agents["alpha"], {"alpha.txt": "alpha\n"})
    commit_all(repo.agents["alpha"], "alpha")
    daemon = DaemonProcess(repo.main)
    app = TopApp(Workspace.load(repo.main), poll_interval=0.1)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.data is not None, "no reading")
            assert "live from the daemon" in _text(app, "#source")
            assert _text(app, "#queue").startswith("queue empty")
            proc = run_gitwarden("land", "alpha", "--no-wait", cwd=repo.main)
            assert proc.returncode == 0, proc.stderr
            await until(pilot, lambda: any(line.split()[1:3] == ["alpha", "landed"]
                                           for line in _text(app, "#queue").splitlines()[1:]),
                        "the landing never showed in the queue panel")

    try:
        asyncio.run(scenario())
    finally:
        daemon.stop()


def test_a_check_running_on_an_agents_head_shows_in_its_health_cell(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    workspace = Workspace.load(repo.main)
    head = git(repo.agents["alpha"], "rev-parse", "HEAD").strip()
    app = TopApp(workspace, poll_interval=0.1)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.data is not None, "no reading")
            assert _agent_cell(app, "alpha", "health") == "unknown"
            with Store.open(workspace.repo) as store:
                set_progress(store, "alpha", "0" * 40, "running")  # an older commit
                set_progress(store, "beta", git(repo.agents["beta"], "rev-parse", "HEAD").strip(),
                             "pending")
            await until(pilot, lambda: _agent_cell(app, "beta", "health") == "pending",
                        "the pending check of beta's HEAD never showed")
            assert _agent_cell(app, "alpha", "health") == "unknown"
            with Store.open(workspace.repo) as store:
                set_progress(store, "alpha", head, "running")
            await until(pilot, lambda: _agent_cell(app, "alpha", "health") == "running",
                        "the running check of alpha's HEAD never showed")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TextScreen), "no detail")
            assert "(a check of HEAD is running)" in str(
                app.screen.query_one("#body", Static).content).splitlines()[0]
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, TextScreen), "not closed")
            with Store.open(workspace.repo) as store:
                clear_progress(store, "alpha", head)
            await until(pilot, lambda: _agent_cell(app, "alpha", "health") == "unknown",
                        "the finished check still shows as running")

    asyncio.run(scenario())


def test_the_health_cell_puts_a_check_under_way_after_a_failure_of_head_only() -> None:
    def cell(health: str, progress: str | None, stale: bool = False) -> str:
        return health_cell({"health": health, "health_progress": progress,
                            "health_stale": stale})[0]

    assert cell("unknown", "running") == "running"
    assert cell("pass", "pending") == "pending"
    assert cell("pass", "running", stale=True) == "running"
    assert cell("broken", "running") == "broken, running"
    assert cell("pass", None, stale=True) == "pass (older HEAD)"
    assert cell("pass", None) == "pass"
