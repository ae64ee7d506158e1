"""Adapters to the outside world: agent tools (Claude Code), git hooks, processes, services."""
