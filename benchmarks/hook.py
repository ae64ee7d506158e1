"""Whole-process latency of the agent-tool hooks (what Claude Code, Codex, Gemini CLI and
gitwarden's opencode plugin run before every edit or command) against `python -c pass`
measured side by side.

Setup: a repository with four agent worktrees, a gitwarden.toml with scopes, a state database
with locks held by another agent; the hook is fed the JSON of an Edit on a locked file (deny)
and on a free file (allow), and a Bash call whose command line is parsed with tree-sitter-bash
(`sed -i` on the locked file: deny); then each other adapter with its own payload (Codex
apply_patch of two files, one locked; Gemini replace; opencode edit), and Claude's
UserPromptSubmit context. The installed hooks are the hook client
(`python -I -S .../run_hook_client.py KIND`), measured with the daemon running (the warm process
answers) and without (the client runs the hook module itself). Each group (no daemon, daemon
running) is measured side by side, round-robin with its own `python -c pass`.
Goals: every adapter p50 <= 60 ms (issue 15); the installed hook with the daemon running, deny
case, p50 <= 2.0 x `python -c pass` (issue 17). Run: python benchmarks/hook.py [--calls 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _repo import ENV, add_agents, generate_repo, wait_for_daemon

from gitwarden.integrations.claude_settings import HOOK_CLIENT

CLIENT_DAEMON = "installed hook client, daemon running (deny)"
CONTEXT_DAEMON = "claude: installed context hook client, daemon running"


def measure(cases: dict[str, tuple[list[str], str]], cwd: Path,
            calls: int) -> dict[str, list[float]]:
    """Sorted wall times of each case, measured side by side: each round runs every case once,
    so a load that comes and goes (other processes on the machine) weighs on all alike."""
    env = dict(ENV)
    # bytecode caches as in real use: the warm-up call writes them
    for key in ("GITWARDEN_AGENT", "PYTHONDONTWRITEBYTECODE"):
        env.pop(key, None)
    timings: dict[str, list[float]] = {label: [] for label in cases}
    for warm_up in (True, *([False] * calls)):
        for label, (argv, payload) in cases.items():
            start = time.perf_counter()
            subprocess.run(argv, input=payload, cwd=cwd, env=env, capture_output=True,
                           text=True, check=True)
            if not warm_up:
                timings[label].append(time.perf_counter() - start)
    return {label: sorted(values) for label, values in timings.items()}


def pct(timings: list[float], q: float) -> float:
    return timings[min(len(timings) - 1, int(q * len(timings)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="gitwarden-bench-") as tmp:
        main_path = generate_repo(Path(tmp), 200)
        agents = add_agents(main_path, 4)
        (main_path / "gitwarden.toml").write_text(
            "".join(f'[agents.agent{n}]\nscope = ["src/**", "docs/**"]\n' for n in range(4)))
        locker = [python, "-m", "gitwarden", "lock", "src/pkg0000/mod000.py", "src/pkg0001/**",
                  "--reason", "benchmark"]
        subprocess.run(locker, cwd=agents[0], env=ENV, check=True, capture_output=True)
        me = agents[1]
        locked = json.dumps({"tool_name": "Edit", "cwd": str(me), "tool_input": {
            "file_path": str(me / "src/pkg0000/mod000.py"), "old_string": "a",
            "new_string": "b"}})
        free = json.dumps({"tool_name": "Edit", "cwd": str(me), "tool_input": {
            "file_path": str(me / "src/pkg0000/mod005.py")}})
        bash = json.dumps({"tool_name": "Bash", "cwd": str(me), "tool_input": {
            "command": "cd src && sed -i 's/a/b/' pkg0000/mod000.py && git diff | head"}})
        patch = ("*** Begin Patch\n*** Update File: src/pkg0000/mod005.py\n@@\n-a\n+b\n"
                 "*** Update File: src/pkg0000/mod000.py\n@@\n-a\n+b\n*** End Patch\n")
        codex = json.dumps({"hook_event_name": "PreToolUse", "cwd": str(me), "model": "gpt-5",
                            "tool_name": "apply_patch", "tool_input": {"command": patch}})
        gemini = json.dumps({"hook_event_name": "BeforeTool", "cwd": str(me),
                             "tool_name": "replace", "tool_input": {
                                 "file_path": "src/pkg0000/mod000.py", "old_string": "a",
                                 "new_string": "b"}})
        opencode = json.dumps({"hook_event_name": "tool.execute.before", "cwd": str(me),
                               "tool": "edit", "args": {
                                   "filePath": str(me / "src/pkg0000/mod000.py")}})
        prompt = json.dumps({"hook_event_name": "UserPromptSubmit", "cwd": str(me),
                             "prompt": "go on"})
        out = subprocess.run([python, "-m", "gitwarden", "hook", "claude"], input=locked,
                             cwd=me, env=ENV, capture_output=True, text=True, check=True)
        assert '"deny"' in out.stdout, out
        for module, payload in (("codex_hook", codex), ("gemini_hook", gemini),
                                ("opencode_hook", opencode)):
            out = subprocess.run([python, "-m", f"gitwarden.integrations.{module}"],
                                 input=payload, cwd=me, env=ENV, capture_output=True,
                                 text=True, check=True)
            assert '"deny"' in out.stdout and "mod000.py" in out.stdout, out
        script = Path(python).with_name("gitwarden")
        client = [python, "-I", "-S", str(HOOK_CLIENT)]
        direct = {
            "python -c pass": ([python, "-c", "pass"], free),
            "gitwarden hook claude (allow)": ([str(script), "hook", "claude"], free),
            "gitwarden hook claude (deny)": ([str(script), "hook", "claude"], locked),
            "gitwarden hook claude (Bash, parsed, deny)": ([str(script), "hook", "claude"], bash),
            "python -m gitwarden.integrations.claude_hook (deny)":
                ([python, "-m", "gitwarden.integrations.claude_hook"], locked),
            "codex: hook module, apply_patch (deny)":
                ([python, "-m", "gitwarden.integrations.codex_hook"], codex),
            "gemini: hook module, replace (deny)":
                ([python, "-m", "gitwarden.integrations.gemini_hook"], gemini),
            "opencode: hook module, edit (deny)":
                ([python, "-m", "gitwarden.integrations.opencode_hook"], opencode),
            "claude: context module, UserPromptSubmit":
                ([python, "-m", "gitwarden.integrations.claude_context"], prompt),
            "installed hook client, no daemon (deny)": ([*client, "claude"], locked),
            "installed context hook client, no daemon": ([*client, "claude-context"], prompt),
        }
        results = {f"{label} [no daemon]" if label == "python -c pass" else label: timings
                   for label, timings in measure(
                       {k: v for k, v in direct.items() if os.path.exists(v[0][0])}, me,
                       args.calls).items()}
        daemon = subprocess.Popen([python, "-m", "gitwarden", "watch"], cwd=main_path, env=ENV,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_daemon(main_path)
            results.update(measure({
                "python -c pass": ([python, "-c", "pass"], free),
                "installed hook client, daemon running (allow)": ([*client, "claude"], free),
                CLIENT_DAEMON: ([*client, "claude"], locked),
                "installed hook client, daemon running (Bash, parsed, deny)":
                    ([*client, "claude"], bash),
                CONTEXT_DAEMON: ([*client, "claude-context"], prompt),
                "codex: installed hook client, daemon running (deny)": ([*client, "codex"], codex),
                "gemini: installed hook client, daemon running (deny)":
                    ([*client, "gemini"], gemini),
                "opencode: plugin's client, daemon running (deny)":
                    ([*client, "opencode"], opencode),
            }, me, args.calls))
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    print("Each group measured side by side (round-robin), p50 ratio against its own "
          "python -c pass.")
    print(f"{'case':62} {'p50 ms':>8} {'p95 ms':>8} {'p50 ratio':>10}")
    baseline = pct(results["python -c pass [no daemon]"], 0.5)
    for label, timings in results.items():
        if label == "python -c pass":
            baseline = pct(timings, 0.5)
            print("-- daemon running --")
        p50 = pct(timings, 0.5)
        print(f"{label:62} {p50:8.1f} {pct(timings, 0.95):8.1f} {p50 / baseline:10.2f}")
    cold = pct(results["python -c pass [no daemon]"], 0.5)
    for label in ("gitwarden hook claude (deny)", "gitwarden hook claude (Bash, parsed, deny)",
                  "python -m gitwarden.integrations.claude_hook (deny)",
                  "installed hook client, no daemon (deny)",
                  "codex: hook module, apply_patch (deny)",
                  "gemini: hook module, replace (deny)",
                  "opencode: hook module, edit (deny)",
                  "claude: context module, UserPromptSubmit",
                  "installed context hook client, no daemon", CONTEXT_DAEMON):
        if label not in results:
            continue
        hook = pct(results[label], 0.5)
        print(f"goal for {label}: p50 <= 60 ms -> {'met' if hook <= 60 else 'NOT met'} "
              f"({hook:.1f} ms; {hook / cold:.2f}x python -c pass, which took "
              f"{cold:.1f} ms in the no-daemon group)")
    warm = pct(results["python -c pass"], 0.5)
    hook = pct(results[CLIENT_DAEMON], 0.5)
    ratio = hook / warm
    print(f"goal for {CLIENT_DAEMON}: p50 <= 2.0x python -c pass -> "
          f"{'met' if ratio <= 2.0 else 'NOT met'} ({hook:.1f} ms = {ratio:.2f}x python -c "
          f"pass, which took {warm:.1f} ms side by side)")
    return 0



if __name__ == "__main__":
    sys.exit(main())
