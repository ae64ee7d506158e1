"""The opencode plugin gitwarden writes to `.opencode/plugins/gitwarden.js` of an agent
worktree: before each tool call it runs `gitwarden hook opencode` and throws (refusing the
call) on a deny or when gitwarden cannot answer (through the hook client: the daemon answers,
else the client runs the hook module); after an edit or shell call it appends what
must be undone to the tool output. A file there without our mark is the user's and is left
alone.

Protocol followed: opencode plugins (https://opencode.ai/docs/plugins/, 2026): plugin files in
`.opencode/plugins/*.{js,ts}` export async functions `({directory, worktree, ...}) => hooks`;
`tool.execute.before(input, output)` throws to block. `node:child_process` works under Bun
(opencode's runtime) and Node alike.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gitwarden.errors import GitwardenError
from gitwarden.integrations.claude_settings import HOOK_CLIENT

PLUGIN = Path(".opencode") / "plugins" / "gitwarden.js"
MARK = "// gitwarden-plugin: written by `gitwarden hooks install --opencode`"
MODULE = "gitwarden.integrations.opencode_hook"

TEMPLATE = """\
MARK_LINE
// Removed by `gitwarden hooks uninstall --opencode`; edits here are overwritten on install.
// Protocol: opencode plugins, tool.execute.before / tool.execute.after (opencode.ai/docs/plugins).
import { spawnSync } from "node:child_process";

const COMMAND = COMMAND_JSON;

function ask(event, input, args, directory) {
  const payload = JSON.stringify({ hook_event_name: event, tool: input.tool,
    session_id: input.sessionID, args: args ?? {}, cwd: directory });
  const run = spawnSync(COMMAND[0], COMMAND.slice(1),
    { input: payload, cwd: directory, encoding: "utf8", timeout: 30000 });
  try {
    if (run.status === 0) return JSON.parse(run.stdout);
  } catch (_) { /* not JSON: treated as a failure below */ }
  return { failed: (run.error && run.error.message) || (run.stderr || "").trim()
    || `exit status ${run.status}` };
}

export const GitwardenGuard = async ({ directory }) => ({
  "tool.execute.before": async (input, output) => {
    const answer = ask("tool.execute.before", input, output.args, directory);
    if (answer.failed) {
      throw new Error(`gitwarden could not check this tool call (${answer.failed}); `
        + "the call is refused until it can (ask the user to run `gitwarden doctor`)");
    }
    if (answer.decision === "deny") throw new Error(answer.reason);
  },
  "tool.execute.after": async (input, output) => {
    const answer = ask("tool.execute.after", input,
      input.args ?? output.metadata?.args ?? {}, directory);
    if (answer.context && typeof output.output === "string") {
      output.output += "\\n\\n" + answer.context;
    }
  },
});
"""


def plugin_text(python: str = sys.executable) -> str:
    # the hook client: the warm daemon answers, else it runs MODULE itself
    command = [python, "-I", "-S", str(HOOK_CLIENT), "opencode"]
    return TEMPLATE.replace("MARK_LINE", MARK).replace("COMMAND_JSON", json.dumps(command))


def is_outdated(worktree: Path) -> bool:
    """Whether our plugin in the worktree does not run the hook client (one from before the
    client starts a full interpreter on every tool call)."""
    try:
        text = (worktree / PLUGIN).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return text.startswith(MARK) and HOOK_CLIENT.name not in text


def is_ours(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8").startswith(MARK)
    except (FileNotFoundError, UnicodeDecodeError):
        return False


def install(worktree: Path, python: str = sys.executable) -> Path:
    """Write (or refresh) our plugin file; never overwrite a file that is not ours."""
    path = worktree / PLUGIN
    if path.exists() and not is_ours(path):
        raise GitwardenError(f"{path} exists and was not written by gitwarden; move it away "
                             "and install again")
    text = plugin_text(python)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def uninstall(worktree: Path) -> bool:
    """Remove our plugin file (and the directories it left empty)."""
    path = worktree / PLUGIN
    if not is_ours(path):
        return False
    path.unlink()
    for directory in (path.parent, path.parent.parent):
        try:
            directory.rmdir()
        except OSError:
            break
    return True


def is_installed(worktree: Path) -> bool:
    return is_ours(worktree / PLUGIN)
