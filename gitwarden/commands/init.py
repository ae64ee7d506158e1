"""`gitwarden init`: write a commented starter gitwarden.toml."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gitwarden.agents.caller import require_user
from gitwarden.agents.workspace import Workspace
from gitwarden.commands import add_command
from gitwarden.config import Config
from gitwarden.errors import UsageError
from gitwarden.git.changes import resolve_base
from gitwarden.git.repository import locate_repo

TEMPLATE = """\
# gitwarden configuration. Reference: README.md, section "Configuration".
# Durations are strings such as "30s", "5m", "1h"; sizes such as "1MiB".

# The integration branch agents branch from (default: the main worktree's branch).
base = {base}

# One table per agent. Linked worktrees are agents without any table; a table renames
# (`path`), scopes, or excludes (`exclude = true`) one.
{agents}
[checkpoints]
interval = "5m"              # how often changed agents are checkpointed
keep = 200                   # newest checkpoints kept per agent
keep_clean_days = 14         # clean checkpoints kept this many days
max_untracked_size = "1MiB"  # new untracked files larger than this are left out

[health]
timeout = "10m"
on_commit = true             # run the checks after each agent commit
on_checkpoint = false
integration = false          # also check the base merged with every agent

[health.checks]
# Run in the order written, in gitwarden's own scratch worktree. Exit codes as in
# `git bisect run`: 0 pass, 125 skip, anything else fail. Examples:
# lint = "ruff check ."
# test = "pytest -x -q"

[notifications]
enabled = true
min_severity = "warning"     # info | warning | error

[watch]
debounce = "150ms"
reconcile_interval = "60s"
"""

AGENT_TEMPLATE = """\
[agents.{name}]
# scope = ["src/**"]         # paths this agent may change
# policy = "pause"           # on a broken build: notify | pause | revert
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "init", "write a starter gitwarden.toml in the main worktree",
        """\
  gitwarden init
  gitwarden init --base develop
  gitwarden init --force          overwrite an existing gitwarden.toml
""")
    parser.add_argument("--base", help="integration branch (default: the main worktree's)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    repo = locate_repo(args.cwd)
    path = repo.config_path
    if path.exists() and not args.force:
        raise UsageError(f"{path} already exists (use --force to overwrite)")
    workspace = Workspace(repo=repo, config=Config())
    require_user(workspace, "gitwarden init")
    base = args.base or workspace.base_branch
    resolve_base(repo.main_worktree, base)
    path.write_text(render_starter(base, [a.name for a in workspace.agents]), encoding="utf-8")
    print(f"wrote {path} ({len(workspace.agents)} agent(s), base {base})")
    return 0


def render_starter(base: str, agent_names: list[str]) -> str:

    agents = "".join(AGENT_TEMPLATE.format(name=name) + "\n" for name in agent_names)
    if not agents:
        agents = "# [agents.payments]\n# scope = [\"src/payments/**\"]\n\n"
    return TEMPLATE.format(base=json.dumps(base), agents=agents)
