"""gitwarden(1): rendered from the parser, valid troff, shipped in the wheel, never stale."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gitwarden.commands import build_parser
from gitwarden.manual.manpage import escape, render

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "man" / "gitwarden.1"


def test_the_shipped_man_page_is_the_parser_rendered_now() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == render(build_parser()), \
        "man/gitwarden.1 is stale: regenerate it with `gitwarden man --output man/gitwarden.1`"


def test_every_command_and_option_is_in_the_page() -> None:
    page = render(build_parser())
    for command in ("status", "top", "rollback", "completion", "events"):
        assert f'.SS "gitwarden {command}"' in page
    assert '.SS "gitwarden agent add"' in page
    assert "\\-\\-dry\\-run" in page and "__complete" not in page


def test_troff_escaping() -> None:
    assert escape(".hidden -x \\n") == "\\&.hidden \\-x \\en"


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_groff_renders_it_without_warnings() -> None:
    proc = subprocess.run(["groff", "-man", "-ww", "-z"], input=render(build_parser()),
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""


def test_the_wheel_installs_it_in_share_man(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=600)
    [wheel] = glob.glob(str(tmp_path / "gitwarden-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith("share/man/man1/gitwarden.1")]
        assert archive.read(name).decode() == SHIPPED.read_text(encoding="utf-8")
