"""Words of a shell command line: quote removal on tree-sitter-bash nodes, and reading the
arguments of the commands gitwarden understands (options, operands, `sed -i`, git paths)."""

from __future__ import annotations

import os

# typing costs milliseconds on the hook's path: annotations only
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def git_paths(sub: str, rest: list[str | None], where: str) -> list[str]:
    """The paths a path-taking git command names: after `--`, else (for checkout) the
    operands that exist, and every operand for the commands that only take paths."""
    if "--" in rest:
        return [a for a in rest[rest.index("--") + 1:] if a is not None]
    operands = [a for a in non_options(rest, takes_value=("-m", "-b", "-B", "--source", "-s",
                                                        "--pathspec-from-file", "-e"))
                if a is not None]
    if sub in ("restore", "rm", "mv", "add", "clean"):
        return operands
    if sub == "checkout":
        return [a for a in operands if a == "." or os.path.exists(os.path.join(where, a))]
    return []


def sed_in_place(args: list[str | None]) -> bool:
    for arg in args:
        if arg is None or not arg.startswith("-") or arg == "-":
            continue
        if arg.startswith("--"):
            if arg.startswith("--in-place"):
                return True
        elif "i" in arg[1:].split("e")[0]:
            return True
    return False


def sed_files(args: list[str | None]) -> list[str | None]:
    script_given = any(a is not None and (a.startswith(("--expression", "--file")) or
                       (a.startswith("-") and not a.startswith("--") and
                        ("e" in a or "f" in a)))
                       for a in args)
    operands = non_options(args, takes_value=("-e", "-f", "--expression", "--file", "-l"))
    return operands if script_given else operands[1:]


def non_options(args: list[str | None], takes_value: tuple[str, ...] = ()) -> list[str | None]:
    """Non-option arguments (everything after `--` included); options in `takes_value`
    consume the next word."""
    result: list[str | None] = []
    skip = False
    options_done = False
    for arg in args:
        if skip:
            skip = False
        elif options_done or arg is None or not arg.startswith("-") or arg == "-":
            result.append(arg)
        elif arg == "--":
            options_done = True
        elif arg in takes_value or (arg[:2] in takes_value and len(arg) == 2):
            skip = True
    return result


def option_values(args: list[str | None], names: tuple[str, ...]) -> list[str | None]:
    values: list[str | None] = []
    for index, arg in enumerate(args):
        if arg in names and index + 1 < len(args):
            values.append(args[index + 1])
        elif arg is not None and arg.startswith(tuple(f"{n}=" for n in names)):
            values.append(arg.partition("=")[2])
    return values


def skip_options(args: list[str | None]) -> list[str | None]:
    index = 0
    while index < len(args) and args[index] is not None and str(args[index]).startswith("-"):
        index += 1
    return args[index:]


def descendants(node: Any, kind: str) -> list[Any]:
    if node.type == kind:
        return [node]
    found: list[Any] = []
    for child in node.named_children:
        found.extend(descendants(child, kind))
    return found


def static(node: Any, home: str) -> str | None:
    """The word's value after quote removal, or None when it depends on an expansion."""
    kind = node.type
    text = node.text.decode("utf-8", "surrogateescape")
    if kind in ("word", "number"):
        return unescape(text)
    if kind == "raw_string":
        return str(text[1:-1])
    if kind == "string":
        parts: list[str] = []
        for child in node.children:
            if child.type == '"':
                continue
            if child.type != "string_content":
                return None
            parts.append(unescape_quoted(child.text.decode("utf-8", "surrogateescape")))
        return "".join(parts)
    if kind == "concatenation":
        pieces = [static(child, home) for child in node.children]
        return None if any(p is None for p in pieces) else "".join(p or "" for p in pieces)
    return None


def unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            out.append(next(chars, ""))
        else:
            out.append(char)
    return "".join(out)


def unescape_quoted(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in '\\"$`\n':
            out.append(text[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)
