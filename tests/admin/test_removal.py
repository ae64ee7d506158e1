"""`agent remove --force` saves every byte, `agent restore` brings it back (issue 11 case 2),
and removed agents stay reachable by name."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.helpers.gitrepo import git, make_repo, run_gitwarden, run_python, write
from tests.helpers.worktree_state import worktree_state

BIG = os.urandom(3_000_000)


def _repo_with_agent(tmp_path: Path, name: str = "z") -> tuple[Path, Path]:
    main = make_repo(tmp_path, {"README.md": "r\n", ".gitignore": ".env\n"})
    added = run_gitwarden("agent", "add", name, cwd=main)
    assert added.returncode == 0, added.stderr
    return main, main.parent / f"{main.name}-agents" / name


def _without_context(state: dict[str, tuple[str, bytes]]) -> dict[str, tuple[str, bytes]]:
    return {k: v for k, v in state.items() if not k.startswith(".gitwarden/")}


def test_remove_force_stashes_big_and_ignored_files_and_restore_brings_them_back(
        tmp_path: Path) -> None:
    main, z = _repo_with_agent(tmp_path)
    write(z, {"src.py": "committed\n"})
    git(z, "add", "-A")
    git(z, "commit", "-qm", "work")
    write(z, {"dataset.bin": BIG, ".env": "TOKEN=secret\n", "wip.txt": "uncommitted\n",
              "README.md": "staged edit\n"})
    git(z, "add", "README.md")
    write(z, {"README.md": "unstaged on top\n"})
    before, staged = _without_context(worktree_state(z)), git(z, "ls-files", "-s")
    head = git(z, "rev-parse", "HEAD").strip()

    refused = run_gitwarden("agent", "remove", "z", cwd=main)
    assert refused.returncode == 2 and "--force" in refused.stderr and z.exists()
    removed = run_gitwarden("agent", "remove", "z", "--force", cwd=main)
    assert removed.returncode == 0, removed.stderr
    assert "moved 2 file(s) no checkpoint holds into the stash" in removed.stdout
    assert ".env" in removed.stdout and "dataset.bin" in removed.stdout
    assert not z.exists()

    listed = run_gitwarden("checkpoints", "z", "--removed", "--json", cwd=main)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["checkpoints"]
    unknown = run_gitwarden("checkpoints", "z", cwd=main)
    assert unknown.returncode == 2

    restored = run_gitwarden("agent", "restore", "z", cwd=main)
    assert restored.returncode == 0, restored.stderr
    assert _without_context(worktree_state(z)) == before
    assert git(z, "ls-files", "-s") == staged
    assert git(z, "rev-parse", "HEAD").strip() == head
    assert git(z, "symbolic-ref", "HEAD").strip() == "refs/heads/agent/z"
    listed_agents = json.loads(run_gitwarden("agent", "list", "--json", cwd=main).stdout)
    assert "z" in [a["name"] for a in listed_agents["agents"]]


def test_remove_refuses_over_the_stash_budget_listing_the_files(tmp_path: Path) -> None:
    main, z = _repo_with_agent(tmp_path)
    config = main / "gitwarden.toml"
    config.write_text(config.read_text() + '\n[checkpoints]\nstash_budget = "1MiB"\n')
    write(z, {"dataset.bin": BIG})
    before = worktree_state(z)
    refused = run_gitwarden("agent", "remove", "z", "--force", cwd=main)
    assert refused.returncode == 1
    assert "dataset.bin" in refused.stderr and "stash_budget" in refused.stderr
    assert worktree_state(z) == before


def test_removed_agent_with_deleted_branch_is_restored_at_its_head(tmp_path: Path) -> None:
    main, z = _repo_with_agent(tmp_path)
    write(z, {"feature.txt": "f\n"})
    git(z, "add", "-A")
    git(z, "commit", "-qm", "feature")
    head = git(z, "rev-parse", "HEAD").strip()
    write(z, {"wip.txt": "w\n"})
    before = _without_context(worktree_state(z))
    removed = run_gitwarden("agent", "remove", "z", "--force", "--delete-branch", cwd=main)
    assert removed.returncode == 0, removed.stderr
    back = run_gitwarden("rollback", "z", "--removed", cwd=main)
    assert back.returncode == 0, back.stderr
    assert _without_context(worktree_state(z)) == before
    assert git(z, "rev-parse", "HEAD").strip() == head


def test_prune_handles_removed_agents_refs(tmp_path: Path) -> None:
    main, z = _repo_with_agent(tmp_path)
    for i in range(4):
        write(z, {"f.txt": f"{i}\n"})
        assert run_gitwarden("checkpoint", "z", cwd=main).returncode == 0
    assert run_gitwarden("agent", "remove", "z", "--force", cwd=main).returncode == 0
    proc = run_gitwarden("prune", "--keep", "2", "--json", cwd=main)
    assert proc.returncode == 0, proc.stderr
    rows = {r["agent"]: r for r in json.loads(proc.stdout)["agents"]}
    assert rows["z"]["removed"] and rows["z"]["kept"] == 2 and rows["z"]["dropped"] == 2


KILLED = r"""
import os, signal, sys
import gitwarden.admin.removal as removal
real = {"run_git": removal.run_git, "apply_move": removal.apply_move}
name = sys.argv[1]
def killed(*args, **kwargs):
    if name == "run_git" and args[0][:2] != ["worktree", "remove"]:
        return real[name](*args, **kwargs)
    real[name](*args, **kwargs) if name == "apply_move" else None
    os.kill(os.getpid(), signal.SIGKILL)
setattr(removal, name, killed)
from gitwarden.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_killed_remove_and_killed_restore_are_finished_by_running_them_again(
        tmp_path: Path) -> None:
    main, z = _repo_with_agent(tmp_path)
    write(z, {"dataset.bin": BIG, ".env": "TOKEN=1\n", "wip.txt": "w\n"})
    before = _without_context(worktree_state(z))
    killed = run_python(KILLED, "run_git", "agent", "remove", "z", "--force", cwd=main)
    assert killed.returncode == -signal.SIGKILL
    again = run_gitwarden("agent", "remove", "z", "--force", cwd=main)
    assert again.returncode == 0, again.stderr
    assert "finished the interrupted removal" in again.stdout and not z.exists()
    killed = run_python(KILLED, "apply_move", "agent", "restore", "z", cwd=main)
    assert killed.returncode == -signal.SIGKILL
    restored = run_gitwarden("agent", "restore", "z", cwd=main)
    assert restored.returncode == 0, restored.stderr
    assert _without_context(worktree_state(z)) == before
