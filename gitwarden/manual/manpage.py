"""The man page, gitwarden(1), rendered in troff from the argparse parser: every command with
its usage, options and examples, so the page cannot say something `--help` does not.

Deterministic (no date) so that the copy shipped in the wheel (man/gitwarden.1, installed as
share/man/man1/gitwarden.1) can be checked against the parser by a test.
"""

from __future__ import annotations

import argparse
import re

from gitwarden import __version__

ENVIRONMENT = [
    ("GITWARDEN_AGENT", "the agent a command runs as; narrows, never changes, the identity "
     "given by the worktree of the current directory"),
    ("NO_COLOR", "no colour in the output"),
    ("FORCE_COLOR", "colour even when the output is not a terminal (NO_COLOR wins)"),
    ("GITWARDEN_BYPASS", "1: skip the git guards once (logged)"),
]
EXIT_STATUS = [("0", "success"), ("1", "a runtime failure (one line on stderr)"),
               ("2", "a usage or configuration error (one line on stderr)")]
_WIDE = re.compile(r"[ \t]+")


def escape(text: str) -> str:
    """Text safe in a troff line: backslashes, hyphens and a leading dot or quote escaped."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def _block(text: str) -> list[str]:
    """Preformatted lines (examples), kept as written."""
    return [".PP", ".nf", ".RS 4", *(escape(line) for line in text.rstrip().splitlines()),
            ".RE", ".fi"]


def _options(parser: argparse.ArgumentParser) -> list[str]:
    lines: list[str] = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        formatter = parser._get_formatter()
        invocation = formatter._format_action_invocation(action)
        lines += [".TP", f"\\fB{escape(invocation)}\\fR"]
        help_text = _WIDE.sub(" ", (action.help or "").strip())
        if "%(default)" in help_text:
            help_text = help_text % {"default": action.default}
        lines.append(escape(help_text) if help_text else "\\&")
    return lines


def _usage(parser: argparse.ArgumentParser) -> str:
    usage = parser.format_usage().strip()
    usage = usage.removeprefix("usage: ")
    return _WIDE.sub(" ", usage.replace("\n", " "))


def _command(parser: argparse.ArgumentParser, help_text: str) -> list[str]:
    lines = [f".SS \"{escape(parser.prog)}\"", escape(help_text), ".PP",
             f"\\fIusage:\\fR {escape(_usage(parser))}"]
    options = _options(parser)
    if options:
        lines += [".PP", "\\fIarguments and options:\\fR", ".RS 4", *options, ".RE"]
    if parser.epilog:
        lines += _block(parser.epilog)
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if sub is not None:
        for choice in sub._choices_actions:
            lines += _command(sub.choices[choice.dest], choice.help or "")
    return lines


def render(parser: argparse.ArgumentParser) -> str:
    """gitwarden(1) in troff (man macros)."""
    name = parser.prog
    lines = [
        f'.TH {name.upper()} 1 "" "{name} {__version__}" "User Commands"',
        ".SH NAME", f"{name} \\- {escape(parser.description or '')}",
        ".SH SYNOPSIS", f"\\fB{name}\\fR [\\fIglobal options\\fR] \\fIcommand\\fR "
        "[\\fIoptions\\fR] [\\fIarguments\\fR]",
        ".SH DESCRIPTION", escape(parser.description or ""),
        "Every command has \\fB\\-\\-help\\fR with examples.",
        ".SH GLOBAL OPTIONS", *_options(parser),
        ".SH COMMANDS",
    ]
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if sub is not None:
        for choice in sub._choices_actions:
            lines += _command(sub.choices[choice.dest], choice.help or "")
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        lines += [".TP", f"\\fB{code}\\fR", escape(meaning)]
    lines.append(".SH ENVIRONMENT")
    for variable, meaning in ENVIRONMENT:
        lines += [".TP", f"\\fB{variable}\\fR", escape(meaning)]
    lines += [".SH SEE ALSO", "\\fBgit\\fR(1), \\fBgit\\-worktree\\fR(1)", ""]
    return "\n".join(lines)
