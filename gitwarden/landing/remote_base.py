"""The base branch on the shared remote, for landings with `[land] push = true`.

Invariant: the remote base moves first, and only by a leased push from the value just fetched
(`advance_remote_base`); the remote-tracking ref and the local base follow it afterwards by
compare-and-swap. So no commit is lost on either side: a landing whose lease is refused
(another machine landed first) is rebuilt on the newly fetched base; a local base holding
commits the remote lacks refuses the landing before anything is pushed; an unreachable remote
refuses it with one line and nothing moves but the remote-tracking ref a fetch may refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitwarden.agents.workspace import Workspace
from gitwarden.errors import GitError
from gitwarden.git.commits import is_ancestor
from gitwarden.git.merges import update_branch_cas
from gitwarden.git.runner import run_git
from gitwarden.landing.preflight import LandRefused
from gitwarden.remote.landing import NotAFastForward, advance_remote_base
from gitwarden.remote.transport import NETWORK_TIMEOUT, RemoteUnreachable


@dataclass(frozen=True)
class RemoteBase:
    """The base branch as it is on `remote`, and its remote-tracking ref here."""

    remote: str
    branch: str

    @property
    def tracking(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"

    @property
    def name(self) -> str:
        return f"{self.remote}/{self.branch}"


def remote_base_of(workspace: Workspace) -> RemoteBase | None:
    """Where landings push the base: `[base] remote`, else `[remote] name`, when
    `[land] push = true`; None for a local landing."""
    config = workspace.config
    shared = config.remote.name if config.remote else None
    remote = config.land.push_remote(config.base_sync.remote, shared)
    return RemoteBase(remote, workspace.base_branch) if remote else None


def fetch_remote_base(workspace: Workspace, target: RemoteBase) -> str:
    """Fetch the base into its remote-tracking ref only (no other ref, no FETCH_HEAD) and
    return its commit; LandRefused (one line) when the remote does not answer."""
    args = ["-c", "gc.auto=0", "-c", "maintenance.auto=false", "fetch", "--quiet", "--no-tags",
            "--no-write-fetch-head", "--no-recurse-submodules", target.remote,
            f"+refs/heads/{target.branch}:{target.tracking}"]
    try:
        proc = run_git(args, workspace.repo.main_worktree, check=False, timeout=NETWORK_TIMEOUT)
    except GitError as exc:
        raise LandRefused(f"cannot land: remote {target.remote} did not answer "
                          f"({exc.message}); nothing was changed") from exc
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no answer"]
        raise LandRefused(f"cannot land: cannot fetch {target.branch} from {target.remote} "
                          f"({lines[-1].strip()}); nothing was changed")
    return run_git(["rev-parse", "--verify", f"{target.tracking}^{{commit}}"],
                   workspace.repo.common_dir).stdout.decode().strip()


def local_base_refusal(workspace: Workspace, target: RemoteBase, local: str,
                       remote: str) -> str | None:
    """Why the local base stops a pushed landing: it holds commits the remote base lacks
    (landing on the remote base would leave them behind)."""
    if is_ancestor(workspace.repo.common_dir, local, remote):
        return None
    return (f"the local {target.branch} ({local[:10]}) has commits that are not on "
            f"{target.name} ({remote[:10]}): push them (git push {target.remote} "
            f"{target.branch}) or reset {target.branch} to {target.name}, then land again; "
            "nothing was changed")


def push_remote_base(workspace: Workspace, target: RemoteBase, old: str, new: str) -> bool:
    """Move the remote base from `old` to `new` (leased on `old`). True when it moved; False
    when another machine moved it first (build again on the new base); LandRefused when the
    remote does not answer or refuses for another reason."""
    try:
        result = advance_remote_base(workspace.repo.main_worktree, target.remote,
                                     target.branch, old, new)
    except (RemoteUnreachable, NotAFastForward) as exc:
        raise LandRefused(f"cannot land: {exc.message}; nothing was changed") from exc
    if result.advanced:
        return True
    if result.remote_now is not None and result.remote_now != old:
        return False
    raise LandRefused(f"cannot land: {target.remote} refused to move {target.branch} "
                      f"({result.reason}); nothing was changed")


def follow_remote_base(workspace: Workspace, target: RemoteBase, *, local: str,
                       remote: str, new: str, reason: str) -> bool:
    """After the push: the remote-tracking ref and the local base move to `new` by
    compare-and-swap. False when the local base moved meanwhile (it keeps its own commits;
    the landing is on the remote, a `git pull` brings them together)."""
    run_git(["update-ref", "-m", reason, target.tracking, new, remote],
            workspace.repo.common_dir, check=False)
    return update_branch_cas(workspace.repo.common_dir, target.branch, new, local, reason)
