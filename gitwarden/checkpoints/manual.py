"""A checkpoint somebody asked for (`gitwarden checkpoint`): which agents, and what it prints.

One home for both ways such a checkpoint is taken, so that they cannot drift apart: the CLI
taking it itself, and the running daemon taking it from memory for the CLI (the daemon's
answer is this module's text, printed by the client as is). Nothing here takes a snapshot.
"""

from __future__ import annotations

import json
from pathlib import Path

from gitwarden.agents.model import Agent, agent_for_path
from gitwarden.agents.workspace import Workspace
from gitwarden.checkpoints.take import CheckpointResult
from gitwarden.errors import UsageError
from gitwarden.output import short


def select_agents(workspace: Workspace, names: list[str], all_agents: bool, clean: bool,
                  worktree: Path | None) -> list[Agent]:
    """The agents a call checkpoints: those named, every one with --all, else the agent whose
    worktree `worktree` (the top of the worktree the call runs in) is. Any agent may ask for a
    checkpoint of any agent: a checkpoint changes nothing of an agent's."""
    if clean and all_agents:
        raise UsageError("--clean needs the agents named (it means: this state is known good)")
    if names and all_agents:
        raise UsageError("name agents or use --all, not both")
    if names or all_agents:
        agents = workspace.select(names)
    else:
        here = agent_for_path(workspace.agents, worktree or Path("."))
        if here is None:
            raise UsageError("name an agent or use --all (not inside an agent's worktree)")
        agents = [here]
    if not agents:
        raise UsageError("no agents (add one with `gitwarden agent add NAME`)")
    return agents


def exit_code(results: list[CheckpointResult]) -> int:
    return 1 if any(r.status == "skipped" for r in results) else 0


def render(results: list[CheckpointResult], *, message: str | None, clean: bool,
           as_json: bool) -> tuple[str, str]:
    """(stdout, stderr) of the command for these results."""
    if as_json:
        # As gitwarden.output.print_json writes it.
        return json.dumps({"checkpoints": [r.as_json() for r in results]}, indent=2,
                          ensure_ascii=False) + "\n", ""
    out: list[str] = []
    err: list[str] = []
    for result in results:
        if result.status == "created":
            line = f"{result.agent}: {result.commit}"
        elif result.status == "unchanged":
            line = f"{result.agent}: unchanged ({short(result.commit)})"
            if message:
                line += (f"; message {message!r} not recorded: nothing changed since "
                         "that checkpoint")
        else:
            line = f"{result.agent}: skipped: {result.reason}"
        if clean and result.status != "skipped":
            line += " [clean]"
        out.append(line + "\n")
        if result.left_out:
            err.append(f"  left out {len(result.left_out)} untracked file(s) over the size cap: "
                       + ", ".join(result.left_out[:5]) + "\n")
    return "".join(out), "".join(err)
