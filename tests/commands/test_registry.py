"""The CLI shell: command table, help with examples, lazy command loading."""

from __future__ import annotations

import argparse

from gitwarden.cli import _command_word, all_command_modules
from gitwarden.commands import COMMAND_MODULES


def _registered() -> dict[str, str]:
    found: dict[str, str] = {}
    for module in all_command_modules():
        parser = argparse.ArgumentParser()
        module.register(parser.add_subparsers())
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for name in actions[0].choices:
            found[name] = module.__name__.rsplit(".", 1)[1]
    return found


def test_command_table_matches_the_modules() -> None:
    assert _registered() == COMMAND_MODULES


def test_every_command_has_help_with_examples() -> None:
    for module in all_command_modules():
        parser = argparse.ArgumentParser()
        module.register(parser.add_subparsers())
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for name, sub in actions[0].choices.items():
            assert "examples:" in (sub.epilog or ""), name


def test_command_word_skips_global_options() -> None:
    assert _command_word(["-C", "status", "checkpoint", "x"]) == "checkpoint"
    assert _command_word(["--debug", "status"]) == "status"
    assert _command_word(["--help"]) is None
