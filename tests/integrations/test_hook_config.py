"""A hook process without a daemon reads the agents' settings from the JSON view kept beside
the state, the same values the full parse gives, and only while gitwarden.toml has the bytes
the view was made from: an edit, an invalid file or a tampered view mean the full parse."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from gitwarden.config import load_config
from gitwarden.errors import ConfigError
from gitwarden.git.repository import locate_repo
from gitwarden.integrations.hook_config import CACHE_NAME, ConfigView, load_hook_config
from gitwarden.store.db import Store
from tests.helpers.gitrepo import make_repo

TOML = """\
base = "main"
[agents.a]
scope = ["src/**", "docs/*.md"]
task = "the parser, é"
tool = "codex"
[agents.b]
path = "../elsewhere"
exclude = true
"""


def _fields(config: Any) -> dict[str, Any]:
    agents = {name: (asdict(agent) if not isinstance(config, ConfigView) else vars(agent))
              for name, agent in config.agents.items()}
    return {"base": config.base, "main_agent": config.main_agent, "agents": agents}


@pytest.fixture()
def main(tmp_path: Path) -> Path:
    main = make_repo(tmp_path, {"README.md": "r\n"})
    with Store.open(locate_repo(main)):
        pass  # the state dir exists: the view is kept there
    (main / "gitwarden.toml").write_text(TOML, encoding="utf-8")
    return main


def test_the_view_gives_what_the_full_parse_gives(main: Path) -> None:
    common = str(main / ".git")
    first = load_hook_config(str(main), common)
    assert not isinstance(first, ConfigView)  # parsed, and kept
    view = load_hook_config(str(main), common)
    assert isinstance(view, ConfigView)
    assert _fields(view) == _fields(load_config(main / "gitwarden.toml"))
    assert view.agents["a"].scope == ("src/**", "docs/*.md")
    assert (main / ".git" / "gitwarden" / CACHE_NAME).stat().st_mode & 0o077 == 0


def test_an_edit_an_invalid_file_or_a_tampered_view_mean_the_full_parse(main: Path) -> None:
    common = str(main / ".git")
    load_hook_config(str(main), common)
    (main / "gitwarden.toml").write_text(TOML.replace('"src/**", ', ""), encoding="utf-8")
    edited = load_hook_config(str(main), common)
    assert not isinstance(edited, ConfigView) and edited.agents["a"].scope == ("docs/*.md",)
    assert load_hook_config(str(main), common).agents["a"].scope == ("docs/*.md",)
    (main / "gitwarden.toml").write_text("[agents.a\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_hook_config(str(main), common)
    (main / "gitwarden.toml").write_text(TOML, encoding="utf-8")
    load_hook_config(str(main), common)
    cache = main / ".git" / "gitwarden" / CACHE_NAME
    saved = json.loads(cache.read_text())
    saved["toml"] = saved["toml"] + " "
    saved["agents"]["a"]["scope"] = ["**"]
    cache.write_text(json.dumps(saved))
    config = load_hook_config(str(main), common)
    assert not isinstance(config, ConfigView) and config.agents["a"].scope[0] == "src/**"
    cache.write_text("{not json")
    assert load_hook_config(str(main), common).agents["a"].scope[0] == "src/**"
    (main / "gitwarden.toml").unlink()
    assert load_hook_config(str(main), common) is None
