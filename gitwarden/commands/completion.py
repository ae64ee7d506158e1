"""`gitwarden completion SHELL`, `gitwarden man` and the hidden `gitwarden __complete`: the
CLI described from its own parser (gitwarden.manual)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pygit2

from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.chain import read_chain
from gitwarden.commands import add_command, build_parser
from gitwarden.errors import GitwardenError
from gitwarden.manual import completion, manpage

MAX_CHECKPOINTS = 50


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "completion", "print the shell completion script for bash, zsh or fish",
        """\
  eval "$(gitwarden completion bash)"                    in ~/.bashrc
  gitwarden completion zsh > ~/.zfunc/_gitwarden         with ~/.zfunc in $fpath
  gitwarden completion fish > ~/.config/fish/completions/gitwarden.fish
""")
    parser.add_argument("shell", choices=completion.SHELLS)
    parser.set_defaults(handler=run_completion)

    man = add_command(
        subparsers, "man", "print the man page gitwarden(1) in troff",
        """\
  gitwarden man | man -l -
  gitwarden man --output man/gitwarden.1    regenerate the copy shipped in the wheel
""")
    man.add_argument("--output", type=Path, metavar="FILE", help="write it to FILE")
    man.set_defaults(handler=run_man)

    # Hidden (no help): what the completion scripts run on TAB.
    hidden = subparsers.add_parser(
        "__complete", prog="gitwarden __complete",
        description="print what may complete the last word (used by the completion scripts)",
        epilog="examples:\n  gitwarden __complete -- pause ''      the agent names\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    hidden.add_argument("words", nargs="*")
    hidden.set_defaults(handler=run_complete)


def run_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(completion.script(args.shell))
    return 0


def run_man(args: argparse.Namespace) -> int:
    text = manpage.render(build_parser())
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


def run_complete(args: argparse.Namespace) -> int:
    cwd = args.cwd

    def values(kind: str) -> list[str]:
        try:
            return _values(kind, cwd)
        except (GitwardenError, OSError):
            return []  # completing must never print an error into the user's command line

    for word in completion.candidates(build_parser(), args.words, values):
        print(word)
    return 0


def _values(kind: str, cwd: Path | None) -> list[str]:
    """Agent names, or checkpoint ids (newest first), from the repository's state."""
    workspace = Workspace.load(cwd)
    if kind == "agents":
        return [agent.name for agent in workspace.agents]
    if kind != "checkpoints":
        return []
    repo = pygit2.Repository(str(workspace.repo.common_dir))
    listed = [info for agent in workspace.agents
              for info in read_chain(repo, agent.name, MAX_CHECKPOINTS)]
    listed.sort(key=lambda info: info.time, reverse=True)
    return [info.commit[:10] for info in listed[:MAX_CHECKPOINTS]]
