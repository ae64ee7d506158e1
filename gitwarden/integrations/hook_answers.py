"""The daemon's side of the hook client: hook and guard calls answered by the warm process.

The answer is the one the hook or guard gives when run directly (the same functions run, on
the same input, working directory and environment: the caller's environment is set in
gitwarden.agents.identity.CALL_ENV for the answering thread only); what the daemon saves is
the interpreter start-up and the imports. A call for another repository, or one this cannot
answer, gets `ok: false` and the client runs the hook directly.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

from gitwarden.agents.identity import CALL_ENV, find_worktree
from gitwarden.integrations import claude_hook
from gitwarden.integrations.guard import run_guard

KINDS = ("claude", "pre-commit", "pre-push")
# The shell parser (tree-sitter) and the decision core are used from one thread at a time.
_ONE_AT_A_TIME = threading.Lock()


def answer(request: dict[str, Any], common_dir: Path) -> dict[str, Any]:
    """{"ok": True, "exit", "stdout", "stderr"} as the hook would exit and print, or
    {"ok": False, "error"} for the client to run the hook itself."""
    kind, cwd, text, env = (request.get("kind"), request.get("cwd"), request.get("input"),
                            request.get("env"))
    if kind not in KINDS or not isinstance(cwd, str) or not isinstance(text, str) or \
            not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        return {"ok": False, "error": "bad hook request"}
    location = find_worktree(cwd) if os.path.isdir(cwd) else None
    if location is None or os.path.realpath(location.common_dir) != \
            os.path.realpath(common_dir):
        return {"ok": False, "error": "not a worktree of this daemon's repository"}
    out, err = io.StringIO(), io.StringIO()
    with _ONE_AT_A_TIME:
        token = CALL_ENV.set({str(k): v for k, v in env.items()})
        try:
            if kind == "claude":
                code = claude_hook.main(io.StringIO(text), out)
            else:
                lines = text.splitlines() if kind == "pre-push" else None
                code = run_guard(kind, Path(cwd), push_lines=lines, err=err)
        finally:
            CALL_ENV.reset(token)
    return {"ok": True, "exit": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
