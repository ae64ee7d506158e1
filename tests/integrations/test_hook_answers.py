"""The daemon's guard answers reuse workspaces, and forget them: the map stays bounded."""

from __future__ import annotations

from pathlib import Path

from gitwarden.integrations import hook_answers
from tests.helpers.gitrepo import make_repo_with_agents


def test_workspaces_of_gone_directories_are_forgotten(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path / "r", ["alpha", "beta"])
    alpha, beta = (str(repo.agents[name].resolve()) for name in ("alpha", "beta"))
    hook_answers._WORKSPACES.clear()
    first = hook_answers._cached_workspace(Path(alpha))
    assert hook_answers._cached_workspace(Path(alpha)) is first  # reused while unchanged
    # An entry from a worktree removed long ago: stored more than CACHE_AGE ago.
    signature, stored, workspace = hook_answers._WORKSPACES[alpha]
    hook_answers._WORKSPACES["/gone/worktree"] = (
        signature, stored - hook_answers.CACHE_AGE - 1, workspace)

    hook_answers._cached_workspace(Path(beta))

    assert set(hook_answers._WORKSPACES) == {alpha, beta}
    for number in range(hook_answers.MAX_WORKSPACES + 5):
        hook_answers._WORKSPACES[f"/many/{number}"] = (signature, stored, workspace)
    del hook_answers._WORKSPACES[beta]
    hook_answers._cached_workspace(Path(beta))
    assert len(hook_answers._WORKSPACES) == hook_answers.MAX_WORKSPACES
    assert beta in hook_answers._WORKSPACES
    hook_answers._WORKSPACES.clear()
