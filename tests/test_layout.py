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


# What a process reads from its environment, home or cwd: at import time it would be the value
# of whoever imported gitwarden first (the tests' fork server, a daemon answering for a client).
_PLACE_READS = {"environ", "getenv", "getenvb", "home", "expanduser", "getcwd", "cwd"}


def test_no_module_reads_the_environment_at_import_time() -> None:
    offenders = []

    def visit(node: ast.AST, path: Path) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            # only what runs when the function is defined: defaults and decorators
            for child in [*node.args.defaults, *node.args.kw_defaults,
                          *getattr(node, "decorator_list", [])]:
                if child is not None:
                    visit(child, path)
            return
        name = node.attr if isinstance(node, ast.Attribute) else \
            node.id if isinstance(node, ast.Name) else None
        if name in _PLACE_READS and not isinstance(getattr(node, "ctx", None), ast.Store):
            offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
        for child in ast.iter_child_nodes(node):
            visit(child, path)

    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for statement in tree.body:
            if not isinstance(statement, ast.Import | ast.ImportFrom):
                visit(statement, path)
    assert offenders == []
