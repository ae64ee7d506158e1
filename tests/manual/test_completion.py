"""Shell completion: the candidates come from the parser and the store; the bash, zsh and
fish scripts are exercised by the real shells where they are installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitwarden.commands import build_parser
from gitwarden.manual.completion import candidates
from tests.helpers.gitrepo import make_repo_with_agents, run_gitwarden, write


def _values(kind: str) -> list[str]:
    return {"agents": ["alpha", "beta"], "checkpoints": ["1a2b3c4d5e"]}[kind]


@pytest.mark.parametrize(("words", "expected"), [
    (["sta"], ["status"]),
    (["pause", ""], ["alpha", "beta"]),
    (["pause", "alpha", "b"], ["beta"]),
    (["rollback", "a"], ["alpha"]),
    (["rollback", "alpha", "--to", ""], ["1a2b3c4d5e"]),
    (["agent", "rem"], ["remove"]),
    (["agent", "re"], ["remove", "restore"]),
    (["agent", "remove", ""], ["alpha", "beta"]),
    (["agent", "add", "--policy", ""], ["notify", "pause", "revert"]),
    (["-C", "somewhere", "che"], ["checkpoint", "checkpoints"]),
    (["lock", "--agent", ""], ["alpha", "beta"]),
    (["events", "--js"], ["--json"]),
    (["completion", ""], ["bash", "zsh", "fish"]),
    (["status", "alpha", ""], []),
])
def test_candidates(words: list[str], expected: list[str]) -> None:
    assert candidates(build_parser(), words, _values) == expected


def test_hidden_command_is_not_offered() -> None:
    assert "__complete" not in candidates(build_parser(), ["_"], _values)


def test_complete_reads_agents_and_checkpoints_from_the_store(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    write(repo.agents["alpha"], {"new.txt": "x\n"})
    made = run_gitwarden("checkpoint", "alpha", cwd=repo.main).stdout.split(": ")[1].strip()
    agents = run_gitwarden("__complete", "--", "pause", "", cwd=repo.main)
    assert agents.stdout.split() == ["alpha", "beta"]
    ids = run_gitwarden("__complete", "--", "rollback", "alpha", "--to", "", cwd=repo.main)
    assert ids.stdout.split() == [made[:10]]
    outside = run_gitwarden("__complete", "--", "pause", "", cwd=tmp_path)
    assert outside.returncode == 0 and outside.stdout == "" and outside.stderr == ""


def _shim(tmp_path: Path) -> Path:
    """A `gitwarden` on PATH that is this checkout's CLI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "gitwarden"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m gitwarden \"$@\"\n")
    shim.chmod(0o755)
    return bin_dir


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_script_completes_agents(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    script = run_gitwarden("completion", "bash", cwd=repo.main).stdout
    probe = (f"{script}\nCOMP_WORDS=(gitwarden pause b); COMP_CWORD=2; _gitwarden; "
             "printf '%s\\n' \"${COMPREPLY[@]}\"")
    proc = subprocess.run(["bash", "--norc", "-c", probe], cwd=repo.main, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={"PATH": f"{_shim(tmp_path)}:/usr/bin:/bin",
                               "HOME": str(tmp_path)})
    assert proc.stdout.split() == ["beta"], proc.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_is_valid(tmp_path: Path) -> None:
    script = run_gitwarden("completion", "zsh", cwd=tmp_path).stdout
    proc = subprocess.run(["zsh", "-n", "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_script_completes_agents(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    script = run_gitwarden("completion", "fish", cwd=repo.main).stdout
    probe = f"{script}\ncomplete -C 'gitwarden pause b'"
    proc = subprocess.run(["fish", "--no-config", "-c", probe], cwd=repo.main,
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": f"{_shim(tmp_path)}:/usr/bin:/bin",
                               "HOME": str(tmp_path)})
    assert proc.stdout.split() == ["beta"], proc.stderr
