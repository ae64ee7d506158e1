"""Folding one batch of raw file events of one agent into what changed: files with their last
action, directories touched, files created in the batch, and directories that appeared or went
away (whose watches the pipeline adds or drops). Nothing here reads git or the disk."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from gitwarden.daemon import gitscan
from gitwarden.daemon.watcher import FsEvent

ACTIONS = {"create": "create", "write": "write", "delete": "delete", "move-from": "move",
           "move-to": "move"}


@dataclass
class FoldedEvents:
    files: dict[str, str] = field(default_factory=dict)  # relative path -> last action
    dirs: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    new_dirs: list[str] = field(default_factory=list)  # relative: watch them, scan their files
    gone_dirs: list[str] = field(default_factory=list)  # absolute: drop their watches


def fold_events(events: Iterable[FsEvent], root: str, ignore: tuple[str, ...]) -> FoldedEvents:
    folded = FoldedEvents()
    for event in events:
        rel = os.path.relpath(event.path, root).replace(os.sep, "/")
        if rel == ".git" or rel.startswith(".git/") or gitscan.matches_any(rel, ignore):
            continue
        if event.is_dir:
            folded.dirs.add(rel)
            if event.kind in ("create", "move-to"):
                folded.new_dirs.append(rel)
            elif event.kind in ("delete", "move-from"):
                folded.gone_dirs.append(event.path)
        else:
            if event.kind == "create":
                folded.created.add(rel)
            folded.files[rel] = ACTIONS[event.kind]
    return folded
