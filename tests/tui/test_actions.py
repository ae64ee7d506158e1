"""The keys of `gitwarden top` act as the user only: from an agent's worktree they refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.pauses import pause_info
from gitwarden.errors import UsageError
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from gitwarden.tui.actions import UserActions
from tests.helpers.gitrepo import make_repo_with_agents


def test_actions_from_an_agent_worktree_are_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    monkeypatch.chdir(repo.agents["alpha"])
    actions = UserActions(Workspace.load(repo.main))
    with pytest.raises(UsageError, match="top runs as agent alpha"):
        actions.pause("beta")
    with Store.open(Workspace.load(repo.main).repo) as store:
        assert pause_info(store, "beta") is None


def test_pause_is_recorded_as_the_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha",))
    monkeypatch.chdir(repo.main)
    actions = UserActions(Workspace.load(repo.main))
    assert actions.pause("alpha") == "paused alpha"
    with Store.open(Workspace.load(repo.main).repo) as store:
        [event] = list_events(store, kinds=["agent.paused"])
    assert event.data["by"] == "user"
    assert (repo.agents["alpha"] / ".gitwarden" / "STATE.md").read_text().count("PAUSED") == 1
