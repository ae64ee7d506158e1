"""Integrations with the outside: agent tools' hooks, git hooks, service managers."""

# `gitwarden hook TOOL` -> the adapter module (run by entry.py without the CLI's parser).
HOOK_MODULES = {"claude": "gitwarden.integrations.claude_hook",
                "claude-context": "gitwarden.integrations.claude_context",
                "codex": "gitwarden.integrations.codex_hook",
                "gemini": "gitwarden.integrations.gemini_hook",
                "opencode": "gitwarden.integrations.opencode_hook"}
