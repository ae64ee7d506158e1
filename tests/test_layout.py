"""The layout rules a reader relies on: small modules, few top-level modules, tests that mirror
the package tree. Layers and cycles are checked by import-linter (README command 2)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gitwarden"
TESTS = ROOT / "tests"
MAX_MODULE_LINES = 450
MAX_TOP_LEVEL_MODULES = 8


def test_no_module_is_over_the_line_limit() -> None:
    too_long = {str(path.relative_to(ROOT)): lines for path in PACKAGE.rglob("*.py")
                if (lines := len(path.read_text(encoding="utf-8").splitlines()))
                > MAX_MODULE_LINES}
    assert too_long == {}


def test_few_modules_directly_in_the_package() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def test_test_folders_mirror_the_packages() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in TESTS.iterdir() if (p / "__init__.py").is_file()}
    assert folders - {"helpers"} <= packages


def test_no_test_module_imports_another_test_module() -> None:
    offenders = []
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("tests.") and \
                    node.module.rsplit(".", 1)[-1].startswith("test_"):
                offenders.append(f"{path.relative_to(ROOT)}: {node.module}")
    assert offenders == []
