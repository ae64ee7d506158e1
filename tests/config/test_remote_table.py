"""[remote] in gitwarden.toml: off unless present, defaults, and errors by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwarden.config import RemoteConfig, load_config
from gitwarden.errors import ConfigError


def load(tmp_path: Path, text: str) -> RemoteConfig | None:
    path = tmp_path / "gitwarden.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path).remote


def test_remote_is_off_without_the_table(tmp_path: Path) -> None:
    assert load(tmp_path, "base = 'main'\n") is None


def test_remote_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "[remote]\n") == RemoteConfig(name="origin", interval=30.0,
                                                        machine=None)


def test_remote_values(tmp_path: Path) -> None:
    got = load(tmp_path, '[remote]\nname = "team"\ninterval = "10s"\nmachine = "ci-7"\n')
    assert got == RemoteConfig(name="team", interval=10.0, machine="ci-7")


@pytest.mark.parametrize("text, fragment", [
    ('[remote]\nmachine = "a b"\n', "gitwarden.toml:2"),
    ('[remote]\ninterval = "0s"\n', "interval"),
    ('[remote]\nnmae = "x"\n', "name"),
])
def test_remote_errors_name_the_line(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, text)
    assert fragment in error.value.message


def test_land_push_uses_base_remote_then_the_shared_remote(tmp_path: Path) -> None:
    path = tmp_path / "gitwarden.toml"
    path.write_text('[base]\nremote = "upstream"\n[remote]\n[land]\npush = true\n')
    land = load_config(path)
    assert land.land.push_remote(land.base_sync.remote, "origin") == "upstream"
    path.write_text('[remote]\nname = "team"\n[land]\npush = true\n')
    shared = load_config(path)
    assert shared.land.push_remote(shared.base_sync.remote, "team") == "team"
    path.write_text('[remote]\n[land]\npush = false\n')
    assert load_config(path).land.push_remote(None, "origin") is None


def test_land_push_without_any_remote_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "gitwarden.toml"
    path.write_text('base = "main"\n[land]\npush = true\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "gitwarden.toml:3" in str(error.value) and "[base] remote" in str(error.value)
