"""What a shell command line writes, deletes, runs where, and asks of gitwarden, read from the
syntax tree tree-sitter-bash builds (a real parser: quoting, heredocs, subshells, `&&` chains).

Only what the text makes certain is reported: a word holding an expansion (`$x`, `$(...)`)
names no known path and is left to the watcher, which sees what really happens. A command
line that does not parse reports `parsed = False` and nothing else. tree-sitter is imported
on the first parse only: the agent hook parses Bash calls and nothing else.
"""

from __future__ import annotations

import os

from gitwarden.coordination.shell_words import (
    descendants,
    git_paths,
    non_options,
    option_values,
    sed_files,
    sed_in_place,
    skip_options,
    static,
)

# typing costs milliseconds on the hook's path: annotations only
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Commands that only read: running them anywhere is harmless.
READ_ONLY = frozenset({
    "ls", "cat", "less", "more", "head", "tail", "wc", "grep", "egrep", "fgrep", "rg", "ag",
    "echo", "printf", "pwd", "test", "[", "[[", "true", "false", "stat", "file", "du", "df",
    "diff", "cmp", "sort", "uniq", "cut", "tr", "jq", "which", "type", "date", "env", "tree",
    "basename", "dirname", "realpath", "readlink", "sha256sum", "md5sum", "column", "nl", "od",
    "hexdump", "xxd", "whoami", "id", "uname", "sleep", "exit", "return", "set", "shopt",
    "source", ".", "alias", "history", "gitwarden",
})
_WRAPPERS = frozenset({"sudo", "nohup", "time", "command", "exec", "nice", "builtin", "doas"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})
_GIT_READS = frozenset({
    "status", "log", "diff", "show", "blame", "grep", "ls-files", "ls-tree", "rev-parse",
    "rev-list", "cat-file", "describe", "shortlog", "reflog", "config", "remote", "fetch",
    "help", "version", "whatchanged", "merge-base", "name-rev", "for-each-ref", "show-ref",
    "var", "check-ignore", "count-objects", "fsck", "verify-commit", "range-diff",
})
_WRITE_REDIRECTS = frozenset({">", ">>", "&>", "&>>", ">|", "<>", ">&"})
_PARSER: Any = None


class ShellEffects:
    """The effects of one command line; paths are absolute (not resolved through links)."""

    __slots__ = ("assignments", "gitwarden", "parsed", "runs_in", "writes")

    def __init__(self) -> None:
        self.parsed = True
        self.writes: list[tuple[str, str]] = []  # (path or glob, the command writing it)
        self.runs_in: list[tuple[str, str]] = []  # (directory, command) that may write there
        self.gitwarden: list[tuple[list[str], str]] = []  # (arguments, directory)
        self.assignments: list[tuple[str, str | None]] = []  # GITWARDEN_* set, value if known


def analyze(command: str, cwd: str, home: str | None = None) -> ShellEffects:
    """The effects of `command` run in `cwd`."""
    effects = ShellEffects()
    try:
        parser = _parser()
    except Exception:  # tree-sitter missing or broken: nothing can be said
        effects.parsed = False
        return effects
    tree = parser.parse(command.encode("utf-8", "surrogateescape"))
    if tree.root_node.has_error:
        effects.parsed = False
        return effects
    _Walker(effects, home or os.path.expanduser("~"), depth=0).visit(tree.root_node, cwd)
    return effects


def _parser() -> Any:
    global _PARSER
    if _PARSER is None:
        # lazy: only Bash tool calls pay for loading the grammar
        from tree_sitter import Language, Parser

        _PARSER = Parser(Language(_bash_language()))
    return _PARSER


def _bash_language() -> object:
    """The grammar from tree-sitter-bash's compiled binding, loaded without running the
    package's __init__ (it imports importlib.resources for query files we never read: ~10 ms
    on every Bash call); any surprise falls back to the ordinary import."""
    try:
        import importlib.machinery
        import importlib.util

        spec = importlib.util.find_spec("tree_sitter_bash")
        locations = list(spec.submodule_search_locations or []) if spec else []
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            candidate = os.path.join(locations[0], f"_binding{suffix}") if locations else ""
            if candidate and os.path.exists(candidate):
                loader = importlib.machinery.ExtensionFileLoader("tree_sitter_bash._binding",
                                                                 candidate)
                binding_spec = importlib.util.spec_from_file_location(
                    "tree_sitter_bash._binding", candidate, loader=loader)
                if binding_spec is not None:
                    module = importlib.util.module_from_spec(binding_spec)
                    loader.exec_module(module)
                    return module.language()
    except Exception:  # the ordinary import below is the fallback
        pass
    import tree_sitter_bash

    return tree_sitter_bash.language()


class _Walker:
    def __init__(self, effects: ShellEffects, home: str, depth: int) -> None:
        self.effects = effects
        self.home = home
        self.depth = depth

    # --- statements: the working directory flows through sequences --------------------------

    def visit(self, node: Any, cwd: str | None) -> str | None:
        kind = node.type
        if kind in ("program", "list", "compound_statement", "do_group"):
            for child in node.named_children:
                cwd = self.visit(child, cwd)
            return cwd
        if kind in ("subshell", "pipeline"):
            for child in node.named_children:
                self.visit(child, cwd)
            return cwd
        if kind == "redirected_statement":
            for child in node.named_children:
                if child.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                    self.redirect(child, cwd)
                else:
                    cwd = self.visit(child, cwd)
            return cwd
        if kind == "command":
            return self.command(node, cwd)
        if kind in ("declaration_command", "variable_assignment"):
            self.assignments(node)
            self.substitutions(node, cwd)
            return cwd
        for child in node.named_children:
            self.visit(child, cwd)
        return cwd

    def redirect(self, node: Any, cwd: str | None) -> None:
        if node.type == "heredoc_redirect":
            for child in node.named_children:
                if child.type == "file_redirect":
                    self.redirect(child, cwd)
            return
        if node.type != "file_redirect":
            return
        operators = {c.type for c in node.children if not c.is_named}
        targets = [c for c in node.named_children if c.type != "file_descriptor"]
        if not operators & _WRITE_REDIRECTS or not targets:
            return
        self.substitutions(node, cwd)
        target = static(targets[-1], self.home)
        if target is None or target == "-" or target.isdigit():
            return
        self.write(target, cwd, "a redirection (>)")

    def assignments(self, node: Any) -> None:
        for found in descendants(node, "variable_assignment"):
            name_node = found.child_by_field_name("name")
            value_node = found.child_by_field_name("value")
            name = name_node.text.decode("utf-8", "surrogateescape") if name_node else ""
            if name.startswith("GITWARDEN_"):
                value = static(value_node, self.home) if value_node is not None else ""
                self.effects.assignments.append((name, value))

    def substitutions(self, node: Any, cwd: str | None) -> None:
        for child in node.named_children:
            if child.type in ("command_substitution", "process_substitution"):
                for inner in child.named_children:
                    self.visit(inner, cwd)
            else:
                self.substitutions(child, cwd)

    # --- simple commands --------------------------------------------------------------------

    def command(self, node: Any, cwd: str | None) -> str | None:
        words: list[str | None] = []
        for child in node.named_children:
            if child.type == "variable_assignment":
                self.assignments(child)
            elif child.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                self.redirect(child, cwd)
            elif child.type == "command_name":
                words.append(static(child.named_children[0], self.home)
                             if child.named_children else None)
            else:
                words.append(static(child, self.home))
        self.substitutions(node, cwd)
        return self.argv(words, cwd)

    def argv(self, words: list[str | None], cwd: str | None) -> str | None:
        if not words:
            return cwd
        name = words[0]
        if name is None:
            if cwd is not None:
                self.effects.runs_in.append((cwd, "a command named by an expansion"))
            return cwd
        base = os.path.basename(name)
        args = words[1:]
        if base in _WRAPPERS:
            return self.argv(skip_options(args), cwd)
        if base == "env":
            rest = skip_options(args)
            while rest and rest[0] is not None and "=" in rest[0]:
                key, _, value = rest[0].partition("=")
                if key.startswith("GITWARDEN_"):
                    self.effects.assignments.append((key, value))
                rest = rest[1:]
            return self.argv(rest, cwd) if rest else cwd
        if base == "timeout":
            rest = skip_options(args)
            return self.argv(rest[1:], cwd)
        if base in ("cd", "pushd"):
            target = next((a for a in args if a is None or not a.startswith("-")), self.home)
            if target is None:
                return None
            return self.path(target, cwd)
        if base in _SHELLS or base == "eval":
            self.nested(base, args, cwd)
            return cwd
        if base == "git":
            self.git(args, cwd)
            return cwd
        if base == "gitwarden" or (base.startswith("python") and args[:2] == ["-m", "gitwarden"]):
            rest = args if base == "gitwarden" else args[2:]
            if cwd is not None and all(a is not None for a in rest):
                self.effects.gitwarden.append(([a for a in rest if a is not None], cwd))
            return cwd
        if base == "xargs":
            rest = skip_options(args)
            if rest:
                self.argv([*rest, None], cwd)
            return cwd
        self.files(base, args, cwd)
        return cwd

    def nested(self, base: str, args: list[str | None], cwd: str | None) -> None:
        """`bash -c '...'` and `eval ...`: the string is a command line of its own."""
        if base == "eval":
            script = " ".join(a for a in args if a is not None) if None not in args else None
        else:
            flags = [a for a in args if a is not None and a.startswith("-")]
            if not any("c" in flag[1:] for flag in flags if not flag.startswith("--")):
                if cwd is not None:
                    self.effects.runs_in.append((cwd, base))
                return
            index = next((i for i, a in enumerate(args) if a is not None and
                          a.startswith("-") and "c" in a), -1)
            script = args[index + 1] if 0 <= index < len(args) - 1 else None
        if script is None or cwd is None or self.depth > 3:
            if cwd is not None:
                self.effects.runs_in.append((cwd, base))
            return
        tree = _parser().parse(script.encode("utf-8", "surrogateescape"))
        if tree.root_node.has_error:
            self.effects.runs_in.append((cwd, base))
            return
        _Walker(self.effects, self.home, self.depth + 1).visit(tree.root_node, cwd)

    def files(self, base: str, args: list[str | None], cwd: str | None) -> None:
        """The file-writing commands: every other command is recorded as running in `cwd`."""
        operands = non_options(args)
        what = base
        if base in ("rm", "rmdir", "unlink", "touch", "shred", "mkdir", "chmod", "chown"):
            targets = operands if base not in ("chmod", "chown") else operands[1:]
        elif base == "truncate":
            targets = non_options(args, takes_value=("-s", "-r", "--size", "--reference"))
        elif base == "tee":
            targets = operands
        elif base == "mv":
            targets = operands + option_values(args, ("-t", "--target-directory"))
        elif base in ("cp", "install", "ln"):
            targets = self.copy_targets(operands, args, cwd)
        elif base == "sed":
            targets = sed_files(args) if sed_in_place(args) else []
            what = "sed -i"
        elif base == "perl":
            in_place = any(a is not None and a.startswith("-") and not a.startswith("--")
                           and "i" in a for a in args)
            targets = non_options(args, takes_value=("-e", "-E")) if in_place else []
            what = "perl -i"
        elif base == "dd":
            targets = [a[3:] for a in args if a is not None and a.startswith("of=")]
        elif base == "find":
            deletes = any(a in ("-delete", "-exec", "-execdir") for a in args)
            start: list[str | None] = []
            for arg in args:
                if arg is None or arg.startswith(("-", "(", "!")):
                    break
                start.append(arg)
            targets = (start or ["."]) if deletes else []
            what = "find -delete/-exec"
        else:
            if base not in READ_ONLY and cwd is not None:
                self.effects.runs_in.append((cwd, base))
            return
        for target in targets:
            if target is not None:
                self.write(target, cwd, what)

    def copy_targets(self, operands: list[str | None], args: list[str | None],
                     cwd: str | None) -> list[str | None]:
        directory = option_values(args, ("-t", "--target-directory"))
        if directory:
            return [os.path.join(d, os.path.basename(s)) if d and s else None
                    for d in directory for s in operands]
        if len(operands) < 2 or operands[-1] is None:
            return []
        destination = operands[-1]
        full = self.path(destination, cwd)
        if full is not None and os.path.isdir(full):
            return [os.path.join(destination, os.path.basename(s)) if s else None
                    for s in operands[:-1]]
        return [destination]

    def git(self, args: list[str | None], cwd: str | None) -> None:
        index = 0
        where = cwd
        while index < len(args):
            arg = args[index]
            if arg in ("-C", "-c", "--git-dir", "--work-tree", "--namespace"):
                value = args[index + 1] if index + 1 < len(args) else None
                if arg == "-C":
                    where = self.path(value, where) if value is not None else None
                index += 2
            elif arg is not None and arg.startswith("-"):
                index += 1
            else:
                break
        sub = args[index] if index < len(args) else None
        rest = args[index + 1:]
        if sub in _GIT_READS or where is None:
            return
        if sub is None:
            self.effects.runs_in.append((where, "git"))
            return
        if sub == "stash" and rest[:1] in (["list"], ["show"]):
            return
        if sub == "branch" and not any(a in ("-D", "-d", "-m", "-M", "-f", "--force")
                                       for a in rest):
            return
        if sub == "clean" and any(a in ("-n", "--dry-run") for a in rest):
            return
        if sub in ("checkout", "restore", "reset", "rm", "mv", "clean", "add"):
            for path in git_paths(sub, rest, where):
                self.write(path, where, f"git {sub}")
        self.effects.runs_in.append((where, f"git {sub}"))

    # --- paths ------------------------------------------------------------------------------

    def write(self, target: str, cwd: str | None, what: str) -> None:
        full = self.path(target, cwd)
        if full is not None:
            self.effects.writes.append((full, what))

    def path(self, target: str, cwd: str | None) -> str | None:
        if target.startswith("~"):
            head, _, tail = target.partition("/")
            if head != "~":
                return None
            target = os.path.join(self.home, tail)
        if os.path.isabs(target):
            return os.path.normpath(target)
        return None if cwd is None else os.path.normpath(os.path.join(cwd, target))
