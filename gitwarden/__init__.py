"""gitwarden: a git-native guard for parallel coding agents."""

__version__ = "0.1.0"
