"""The decision every agent-tool hook asks for: may this agent make this tool call?

Pure and fast: it takes a normalized request (who, what kind of tool, the paths it writes,
the shell command it runs) and the facts read from gitwarden's state, and answers allow or
deny with a reason the agent can act on (plus context to tell it). Hook adapters for each
agent tool (Claude Code, ...) translate their JSON into a ToolRequest and the answer back;
they hold no rules of their own. Nothing here imports anything heavy; the shell parser is
loaded only for shell commands. Plain classes: dataclasses is slow to import.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Sequence

from gitwarden.coordination.scope import (
    OutsideRepository,
    inside,
    is_gitwarden_file,
    matches,
    normalize_pattern,
    normalize_scope,
    patterns_overlap,
)
from gitwarden.invocation import gitwarden_command
from gitwarden.units import format_duration

EDIT = "edit"
SHELL = "shell"
OTHER = "other"
BYPASS_ENV = "GITWARDEN_BYPASS"
AGENT_ENV = "GITWARDEN_AGENT"
# gitwarden commands only the user may run, and what tells them apart.
USER_COMMANDS = {"resume": "resume agents", "stop": "engage the kill switch",
                 "pause": "pause agents", "rollback": "roll an agent back",
                 "prune": "prune checkpoints", "init": "change the configuration",
                 "service": "manage the service", "watch": "run the daemon"}
USER_SUBCOMMANDS = {("hooks", "uninstall"): "remove the guards",
                    ("hooks", "install"): "change the guards",
                    ("agent", "add"): "change the configuration",
                    ("agent", "remove"): "remove an agent"}
ASK_USER = "This is for the user only: stop and ask the user to do it if it is needed."


class HeldLock:
    """A path lock as the decision needs it (lock_rules.Lock is a dataclass: slow to import
    on the hook's path)."""

    __slots__ = ("agent", "expires_at", "pattern", "reason")
    COLUMNS = "pattern, agent, reason, expires_at"  # the locks table columns, in this order

    def __init__(self, pattern: str, agent: str, reason: str,
                 expires_at: float | None) -> None:
        self.pattern = pattern
        self.agent = agent
        self.reason = reason
        self.expires_at = expires_at

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def describe(self, now: float) -> str:
        """As lock_rules.describe_holder says it."""
        reason = f" ({self.reason})" if self.reason else ""
        if self.expires_at is None:
            until = "with no expiry"
        else:
            clock = time.strftime("%H:%M", time.localtime(self.expires_at))
            until = f"until {clock} (in {format_duration(self.expires_at - now)})"
        return f"locked by agent {self.agent} via '{self.pattern}'{reason} {until}"


class ToolRequest:
    """One tool call, normalized: `paths` are absolute paths an edit tool writes, `command`
    the shell command line a shell tool runs in `cwd`; `claimed` an identity the call claims
    (e.g. GITWARDEN_AGENT in its environment)."""

    __slots__ = ("agent", "claimed", "command", "cwd", "kind", "paths")

    def __init__(self, agent: str, kind: str, cwd: str, paths: Sequence[str] = (),
                 command: str | None = None, claimed: str | None = None) -> None:
        self.agent = agent
        self.kind = kind
        self.cwd = cwd
        self.paths = tuple(paths)
        self.command = command
        self.claimed = claimed


class GuardFacts:
    """What gitwarden's state says about the agent: its worktree, scope, the path locks held
    (by anyone), its pause (a ready reason), and every worktree of the repository (resolved
    root -> agent name, None for one that is not an agent)."""

    __slots__ = ("common_dir", "is_ignored", "locks", "now", "paused", "root", "scope",
                 "worktrees")

    def __init__(self, root: str, scope: Sequence[str], locks: Sequence[HeldLock],
                 paused: str | None, worktrees: dict[str, str | None], common_dir: str,
                 now: float, is_ignored: Callable[[str], bool] | None = None) -> None:
        self.root = os.path.realpath(root)
        self.scope = tuple(scope)
        self.locks = list(locks)
        self.paused = paused
        self.worktrees = worktrees
        self.common_dir = os.path.realpath(common_dir)
        self.now = now
        # asked only before a scope denial: ignored files (build output) are nobody's scope
        self.is_ignored = is_ignored


class Decision:
    __slots__ = ("allow", "context", "reason")

    def __init__(self, allow: bool, reason: str | None = None,
                 context: str | None = None) -> None:
        self.allow = allow
        self.reason = reason
        self.context = context

    def __repr__(self) -> str:
        return f"Decision(allow={self.allow}, reason={self.reason!r})"


ALLOW = Decision(True)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


def decide(request: ToolRequest, facts: GuardFacts) -> Decision:
    """Allow or deny `request`; never raises for odd input (unknown paths are allowed)."""
    if request.claimed and request.claimed != request.agent:
        return deny(f"this tool call runs in the worktree of agent {request.agent} but claims "
                    f"to be agent {request.claimed} ({AGENT_ENV}); an agent acts only as "
                    f"itself. Unset {AGENT_ENV} or set it to {request.agent}.")
    if request.kind == OTHER:
        return ALLOW
    if facts.paused:
        return deny(facts.paused)
    if request.kind == EDIT:
        for path in request.paths:
            problem = edit_problem(request.agent, path, facts)
            if problem:
                return deny(problem)
        return ALLOW
    if request.command:
        return _shell(request, facts)
    return ALLOW


def edit_problem(agent: str, path: str, facts: GuardFacts) -> str | None:
    """Why `agent` may not write `path` (absolute), or None. The path is checked as written
    and as the file it really is: a symbolic link must not lead around a lock or a scope."""
    written = os.path.normpath(path)
    real = os.path.realpath(written)
    rel = inside(written, facts.root)
    if rel is None:
        rel = inside(os.path.join(os.path.realpath(os.path.dirname(written)),
                                  os.path.basename(written)), facts.root)
    if rel is None:
        return _outside(agent, path, facts)
    real_rel = inside(real, facts.root)
    if real_rel is None:
        return (f"{path} leads to {real} (through a symbolic link), outside the worktree "
                f"{facts.root}: agent {agent} may only edit files inside its own worktree; "
                "do not write through links that lead out of it.")
    checked = [rel] if real_rel == rel else [rel, real_rel]
    via = "" if real_rel == rel else f" (through the symbolic link {rel})"
    for item in checked:
        problem = path_problem(agent, item or ".", facts,
                               via=via if item == real_rel else "")
        if problem:
            return problem
    return None


def path_problem(agent: str, rel: str, facts: GuardFacts, *, via: str = "",
                 what: str = "") -> str | None:
    """Why `agent` may not change the repository path (or glob) `rel` of its own worktree."""
    try:
        path = normalize_pattern(rel)
    except OutsideRepository:
        return None
    if is_gitwarden_file(path):
        return None
    doing = f" ({what})" if what else ""
    for lock in facts.locks:
        if lock.agent == agent or lock.expired(facts.now):
            continue
        if patterns_overlap(path, lock.pattern):
            quoted = shlex.quote(path)
            ask = shlex.quote(f"please release {path}")
            gitwarden = gitwarden_command()
            return (f"{path}{via}{doing} is {lock.describe(facts.now)}. Do not edit "
                    f"it now: work on something else, run `{gitwarden} lock {quoted} --wait "
                    f"10m` to wait for it, or ask with `{gitwarden} request --to "
                    f"{shlex.quote(lock.agent)} {ask}`.")
    if facts.scope and not any(matches(normalize_scope(p), path) for p in facts.scope) and \
            not (facts.is_ignored is not None and facts.is_ignored(path)):
        return (f"{path}{via}{doing} is outside the scope of agent {agent} "
                f"({', '.join(facts.scope)}). Edit only files in your scope; if this change "
                f"is really needed, ask the owner with `{gitwarden_command()} request --to "
                "AGENT \"...\"`.")
    return None


def _outside(agent: str, path: str, facts: GuardFacts) -> str:
    owner = owner_of(path, facts)
    if owner is not None:
        return (f"{path} is outside your worktree {facts.root}, in {owner[1]}: agent "
                f"{agent} may only change files inside its own worktree.")
    return (f"{path} is outside your worktree {facts.root}: agent {agent} may only edit files "
            "inside its own worktree.")


def owner_of(path: str, facts: GuardFacts) -> tuple[str, str] | None:
    """(root, description) of the other worktree or git directory of this repository that
    holds `path`, or None when it is in the agent's own worktree or outside the repository."""
    full = os.path.realpath(path)
    best: tuple[str, str | None] | None = None
    for root, name in facts.worktrees.items():
        if inside(full, root) is not None and (best is None or len(root) > len(best[0])):
            best = (root, name)
    if inside(full, facts.common_dir) is not None:
        return facts.common_dir, "git's own directory (.git) of the repository"
    if best is None or best[0] == facts.root:
        return None
    return best[0], f"agent {best[1]}" if best[1] else f"the main worktree {best[0]}"


def _shell(request: ToolRequest, facts: GuardFacts) -> Decision:
    # lazy: the shell parser loads tree-sitter; only shell commands need it
    from gitwarden.coordination.shell_effects import analyze

    effects = analyze(request.command or "", request.cwd)
    if not effects.parsed:
        return ALLOW  # the watcher sees what really happens
    for name, value in effects.assignments:
        if name == BYPASS_ENV:
            return deny(f"setting {BYPASS_ENV} skips gitwarden's guards. {ASK_USER}")
        if name == AGENT_ENV and value != request.agent:
            return deny(f"setting {AGENT_ENV}={value} makes a claim to be another agent; you "
                        f"are agent {request.agent} and act only as yourself.")
    for arguments, directory in effects.gitwarden:
        problem = _gitwarden_problem(request.agent, arguments, directory, facts)
        if problem:
            return deny(problem)
    for path, what in effects.writes:
        owner = owner_of(path, facts)
        if owner is not None:
            return deny(f"`{what}` would change {path}, in {owner[1]}: agent {request.agent} "
                        "may only change its own worktree.")
        rel = inside(_resolved(path), facts.root)
        if rel is None:
            continue
        problem = path_problem(request.agent, rel or ".", facts, what=what)
        if problem:
            return deny(problem)
    for directory, what in effects.runs_in:
        owner = owner_of(directory, facts)
        if owner is not None:
            return deny(f"`{what}` would run in {directory}, in {owner[1]}: agent "
                        f"{request.agent} may only change its own worktree.")
    return ALLOW


def _gitwarden_problem(agent: str, arguments: list[str], directory: str,
                       facts: GuardFacts) -> str | None:
    where = directory
    words = list(arguments)
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option == "-C" and words:
            where = os.path.join(where, words.pop(0))
    if where != directory:
        owner = owner_of(where, facts)
        if owner is not None:
            return (f"`gitwarden -C {shlex.quote(where)}` acts as {owner[1]}; agent {agent} "
                    "acts only as itself.")
    if not words:
        return None
    command, rest = words[0], words[1:]
    label = f"`gitwarden {command}`"
    if command in USER_COMMANDS:
        return f"{label} is a user command ({USER_COMMANDS[command]}). {ASK_USER}"
    sub = rest[0] if rest else ""
    if (command, sub) in USER_SUBCOMMANDS:
        return (f"`gitwarden {command} {sub}` is a user command "
                f"({USER_SUBCOMMANDS[(command, sub)]}). {ASK_USER}")
    if command == "unlock" and "--force" in rest:
        return f"`gitwarden unlock --force` takes another agent's lock away. {ASK_USER}"
    for flag in ("--agent", "--from"):
        if flag in rest:
            index = rest.index(flag)
            named = rest[index + 1] if index + 1 < len(rest) else ""
            if named != agent:
                return (f"{label} {flag} {shlex.quote(named)} acts as another agent; you are "
                        f"agent {agent} and act only as yourself.")
    return None


def _resolved(path: str) -> str:
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
