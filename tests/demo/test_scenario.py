"""`gitwarden demo` runs to completion, and every claim it prints is true in the sandbox."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from gitwarden.coordination.pauses import paused_agents
from gitwarden.git.repository import locate_repo
from gitwarden.store.db import Store
from gitwarden.store.events import list_events
from tests.helpers.gitrepo import git, run_gitwarden


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any], float]:
    # The hermetic fixture is function-scoped: this module-scoped run is hermetic on its own.
    sandbox = tmp_path_factory.mktemp("demo") / "sandbox"
    home = tmp_path_factory.mktemp("demo-home")
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n", encoding="utf-8")
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_STATE_HOME": str(home / ".state"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"), "GITWARDEN_NO_NOTIFY": "1"}
    started = time.monotonic()
    proc = run_gitwarden("demo", str(sandbox), "--json", cwd=home, env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    narration, _, document = proc.stdout.partition("\n{\n")
    return narration, json.loads("{\n" + document), elapsed


def _events(repository: Path, kind: str) -> list[Any]:
    with Store.open(locate_repo(repository)) as store:
        return list_events(store, kinds=[kind])


def test_demo_finishes_and_leaves_the_sandbox(demo_run: tuple[str, dict[str, Any], float]
                                              ) -> None:
    narration, result, elapsed = demo_run
    print(f"demo took {elapsed:.1f} s")
    sandbox = Path(result["sandbox"])
    assert f"The sandbox stays for you to explore: {sandbox}" in narration
    assert narration.count("✓") >= 6
    assert sorted(result["agents"]) == ["alpha", "beta", "gamma"]
    for path in result["agents"].values():
        assert (Path(path) / ".git").is_file(), "each agent is a linked worktree"
    assert result["facts"]["daemon"] == {"ready": True, "log": result["daemon_log"],
                                         "stopped_cleanly": True}
    # The daemon is gone: its control socket / lock no longer answer, so a new one can start.
    status = run_gitwarden("status", "--json", cwd=result["repository"])
    assert status.returncode == 0, status.stderr


def test_overlap_claim(demo_run: tuple[str, dict[str, Any], float]) -> None:
    _, result, _ = demo_run
    repository = Path(result["repository"])
    claim = result["facts"]["overlap"]
    recorded = [e for e in _events(repository, "overlap.opened") if e.path == "pricing.py"]
    assert recorded and recorded[0].id == claim["event"]
    assert recorded[0].data["classification"] == "conflict"
    assert sorted(recorded[0].data["agents"]) == ["alpha", "beta"]
    report = json.loads(run_gitwarden("status", "--json", cwd=repository).stdout)
    overlaps = {item["path"]: item["agents"] for item in report["overlaps"]}
    assert {"alpha", "beta"} <= set(overlaps["pricing.py"])
    for name in ("alpha", "beta"):
        assert "pricing.py" in git(result["agents"][name], "diff", "--name-only")


def test_checkpoint_claim(demo_run: tuple[str, dict[str, Any], float]) -> None:
    _, result, _ = demo_run
    repository = Path(result["repository"])
    claim = result["facts"]["checkpoint"]
    alpha = result["agents"]["alpha"]
    git(repository, "merge-base", "--is-ancestor", claim["commit"], claim["ref"])
    assert "round(sum(prices), 2)" in git(repository, "show", f"{claim['commit']}:pricing.py")
    # alpha's HEAD, index and files were not touched by the checkpoint.
    assert git(alpha, "rev-parse", "HEAD") == git(repository, "rev-parse", "main")
    assert git(alpha, "diff", "--cached", "--name-only") == ""
    assert "round(sum(prices), 2)" in (Path(alpha) / "pricing.py").read_text()
    assert git(repository, "for-each-ref", "refs/heads/gitwarden*") == ""


def test_culprit_pause_and_rollback_claims(demo_run: tuple[str, dict[str, Any], float]) -> None:
    _, result, _ = demo_run
    repository = Path(result["repository"])
    gamma = result["agents"]["gamma"]
    good, bad = result["facts"]["good"]["commit"], result["facts"]["culprit"]["commit"]
    assert git(repository, "log", "-1", "--format=%s", bad).strip() == "simplify discount"
    assert git(repository, "rev-parse", f"{bad}^").strip() == good

    passes = [e for e in _events(repository, "health.pass") if e.agent == "gamma"]
    assert any(good[:10] in e.message for e in passes)
    culprits = [e for e in _events(repository, "health.culprit") if e.agent == "gamma"]
    assert [e.data["culprit"] for e in culprits] == [bad]
    pauses = [e for kind in ("agent.paused", "pause") for e in _events(repository, kind)
              if e.agent == "gamma"]
    assert pauses, "gamma was paused"

    # Rolled back: HEAD at the good commit, the working file restored, the bad commit kept.
    assert git(gamma, "rev-parse", "HEAD").strip() == good
    assert "(100 - percent)" in (Path(gamma) / "pricing.py").read_text()
    backup = result["facts"]["rollback"]["backup_ref"]
    assert backup.startswith("refs/gitwarden/backups/gamma/")
    assert git(repository, "rev-parse", backup).strip() == bad
    rollbacks = [e for e in _events(repository, "rollback.applied") if e.agent == "gamma"]
    assert rollbacks and rollbacks[-1].data["backup_ref"] == backup
    # ... and resumed.
    with Store.open(locate_repo(repository)) as store:
        assert "gamma" not in paused_agents(store)


def test_demo_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("mine\n")
    proc = run_gitwarden("demo", str(tmp_path / "taken"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("gitwarden: error: ")
    assert "not an empty directory" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert (tmp_path / "taken" / "file.txt").read_text() == "mine\n"


def test_demo_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    proc = run_gitwarden("demo", str(tmp_path / "afile"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
