"""Helpers shared by the coordination commands (lock, pause, run, request, done)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gitwarden.agents.workspace import Workspace
from gitwarden.coordination.scope import OutsideRepository, inside, normalize_pattern
from gitwarden.coordination.wildmatch import has_glob
from gitwarden.errors import UsageError
from gitwarden.output import printable
from gitwarden.store.db import Store
from gitwarden.units import parse_duration

# Free-text options stored in the state database, which holds UTF-8 text only.
_FREE_TEXT = ("reason", "text", "message")


def open_context(args: argparse.Namespace) -> tuple[Workspace, Store]:
    """The workspace and its store; free text from the command line (which may carry bytes
    that are not UTF-8, as surrogate escapes) is made printable first."""
    for name in _FREE_TEXT:
        value = getattr(args, name, None)
        if isinstance(value, str):
            setattr(args, name, printable(value))
    workspace = Workspace.load(args.cwd)
    return workspace, Store.open(workspace.repo)


def known_agent_names(workspace: Workspace) -> set[str]:
    return {agent.name for agent in workspace.agents}


def parse_duration_arg(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from exc


def lock_patterns(workspace: Workspace, raw: list[str], cwd: Path | None) -> list[str]:
    """Paths and globs given on the command line, as repository-relative patterns. They are
    relative to the current directory inside the current worktree; outside paths are refused.
    A literal path through a symbolic link names the file the link leads to."""
    here = os.path.abspath(cwd) if cwd is not None else os.getcwd()
    root = workspace.repo.current_worktree or workspace.repo.main_worktree
    prefix = _inside(here, str(root))
    patterns: list[str] = []
    for text in raw:
        if printable(text) != text:
            raise UsageError(f"refusing '{printable(text)}': the name is not valid UTF-8; lock a "
                             "glob that covers it instead (e.g. its directory)")
        try:
            if not text.strip():
                raise OutsideRepository("empty path")
            if os.path.isabs(text) or not has_glob(text):
                # a literal path is the file it names, symbolic links followed
                full = os.path.join(here if prefix is not None else str(root), text)
                relative = _inside(os.path.normpath(full), str(root))
                if relative is None:
                    raise OutsideRepository(f"{text} is outside the worktree {root}")
                patterns.append(normalize_pattern(relative or "."))
            else:
                patterns.append(normalize_pattern(os.path.join(prefix or "", text)))
        except OutsideRepository as exc:
            raise UsageError(f"refusing {text!r}: {exc}") from exc
    return list(dict.fromkeys(patterns))


def _inside(path: str, root: str) -> str | None:
    return inside(os.path.realpath(path), os.path.realpath(root))
