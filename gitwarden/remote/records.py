"""Small commits that carry gitwarden's shared records (presence, locks, requests).

A record is a commit whose message is `gitwarden <kind>` and a JSON body; its tree is the
empty tree or, for presence, the agent's latest checkpoint tree, so that fetching the record
also fetches the files other machines need to predict merges. Commits are written with
`git commit-tree` (no ref, index or worktree is touched).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitwarden.git.objects import GITWARDEN_EMAIL, GITWARDEN_NAME
from gitwarden.git.runner import run_git

_HEADER = "gitwarden "


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_written: set[Path] = set()


def empty_tree(cwd: Path) -> str:
    """The empty tree, written to the object database once per process and repository
    (pushing needs the real object, not git's built-in idea of it)."""
    if cwd not in _written:
        run_git(["mktree"], cwd, input_bytes=b"")
        _written.add(cwd)
    return EMPTY_TREE


def write_record(cwd: Path, kind: str, data: Mapping[str, Any], *, tree: str | None = None,
                 parents: Sequence[str] = ()) -> str:
    """Create a record commit and return its id."""
    message = f"{_HEADER}{kind}\n\n{json.dumps(data, sort_keys=True)}\n"
    args = ["commit-tree", tree or empty_tree(cwd)]
    for parent in parents:
        args += ["-p", parent]
    env = {"GIT_AUTHOR_NAME": GITWARDEN_NAME, "GIT_AUTHOR_EMAIL": GITWARDEN_EMAIL,
           "GIT_COMMITTER_NAME": GITWARDEN_NAME, "GIT_COMMITTER_EMAIL": GITWARDEN_EMAIL}
    proc = run_git([*args, "-F", "-"], cwd, input_bytes=message.encode(), env=env)
    return proc.stdout.decode().strip()


def read_records(cwd: Path, ref_prefix: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(ref, commit, kind, data) of every record under `ref_prefix`; malformed ones skipped."""
    proc = run_git(["for-each-ref", "--format=%(refname)%00%(objectname)%00%(tree)%00"
                    "%(contents)%00", ref_prefix], cwd)
    fields = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    found = []
    for i in range(0, len(fields) - 4, 4):
        ref, commit, _tree, message = (fields[i].lstrip("\n"), fields[i + 1], fields[i + 2],
                                       fields[i + 3])
        parsed = parse_message(message)
        if parsed is not None:
            found.append((ref, commit, parsed[0], parsed[1]))
    return found


def parse_message(message: str) -> tuple[str, dict[str, Any]] | None:
    head, _, body = message.partition("\n\n")
    if not head.startswith(_HEADER):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return (head[len(_HEADER):].strip(), data) if isinstance(data, dict) else None
