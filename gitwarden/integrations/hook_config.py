"""The part of gitwarden.toml a hook process reads (each agent's settings, `base`,
`main_agent`), kept beside the state as JSON keyed by the file's exact bytes.

A hook run with no daemon otherwise parses and validates the whole file on every tool call,
and the TOML parser and the config model (dataclasses) cost about 15 ms of imports. The view
is written only from a full, valid parse (`load_config`), and used only while gitwarden.toml
has the very bytes it was made from; anything else (no cache, another file, a cache that
cannot be read) means the full parse, which also raises what an invalid file gets. Imports
only os and json: this runs on every tool call.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CACHE_NAME = "hook-config.json"


class AgentView:
    """An agent's settings as gitwarden.config.AgentConfig has them (the same attributes,
    tuples for its sequences)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            setattr(self, name, tuple(value) if isinstance(value, list) else value)


class ConfigView:
    """The config as the hooks read it: `agents`, `base`, `main_agent`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.agents = {name: AgentView(fields) for name, fields in data["agents"].items()}
        self.base = data["base"]
        self.main_agent = data["main_agent"]


def load_hook_config(main_worktree: str, common_dir: str) -> Any:
    """None when there is no gitwarden.toml; else a ConfigView or the full Config."""
    path = os.path.join(main_worktree, "gitwarden.toml")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("latin-1")  # every byte kept: compared exactly
    except FileNotFoundError:
        return None
    except OSError:
        text = None  # the full parse says what is wrong
    cache = os.path.join(common_dir, "gitwarden", CACHE_NAME)
    if text is not None:
        try:
            with open(cache, encoding="utf-8") as handle:
                saved = json.load(handle)
            if isinstance(saved, dict) and saved.get("toml") == text:
                return ConfigView(saved)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    from pathlib import Path

    from gitwarden.config import load_config

    config = load_config(Path(path))
    if text is not None and _read(path) == text:  # what was parsed is what is keyed
        _save(cache, text, config)
    return config


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("latin-1")
    except OSError:
        return None


def _save(cache: str, text: str, config: Any) -> None:
    """Write the view (owner-only, atomically); only where the state dir already is."""
    if not os.path.isdir(os.path.dirname(cache)):
        return
    from dataclasses import asdict

    data = {"toml": text, "base": config.base, "main_agent": config.main_agent,
            "agents": {name: asdict(agent) for name, agent in config.agents.items()}}
    temp = f"{cache}.{os.getpid()}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temp, cache)
    except (OSError, TypeError, ValueError):
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(temp)
