"""Shell completion: what may come next on a `gitwarden` command line, read from the parser.

The bash, zsh and fish scripts are thin: on TAB they run `gitwarden __complete -- WORD...` (the
words typed so far, the last one being completed, possibly empty) and offer its lines. All
the logic is here, once: subcommands, options, option choices, and values named by the
parser (an `AGENT` or `CHECKPOINT` argument) looked up by the caller's `values` function.
An empty answer lets the shell complete file names.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

SHELLS = ("bash", "zsh", "fish")
VALUE_KINDS = {"AGENT": "agents", "CHECKPOINT": "checkpoints"}

Values = Callable[[str], list[str]]


def value_kind(action: argparse.Action) -> str | None:
    """What an argument's values are: "agents", "checkpoints", or None (free text/files)."""
    metavar = action.metavar if isinstance(action.metavar, str) else None
    if metavar in VALUE_KINDS:
        return VALUE_KINDS[metavar]
    if action.dest in ("agent", "agents"):
        return "agents"
    return None


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[
        argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _visible_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[str]:
    """Subcommands listed in --help (a parser added without help is hidden)."""
    return [choice.dest for choice in sub._choices_actions]


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {opt: action for action in parser._actions for opt in action.option_strings
            if action.help != argparse.SUPPRESS}


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def candidates(parser: argparse.ArgumentParser, words: Sequence[str], values: Values) -> list[str]:
    """The words that may replace the last of `words` (the arguments after `gitwarden`)."""
    *done, current = list(words) or [""]
    positionals_seen = 0
    expecting: argparse.Action | None = None
    for word in done:
        if expecting is not None:
            expecting = None
            continue
        options = _options(parser)
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            action = options.get(name)
            if action is not None and _takes_value(action) and "=" not in word:
                expecting = action
            continue
        sub = _subparsers(parser)
        if sub is not None and word in sub.choices:
            parser = sub.choices[word]
            positionals_seen = 0
            continue
        positionals_seen += 1
    if expecting is not None:
        found = _values_for(expecting, values)
    elif current.startswith("-"):
        found = sorted(_options(parser))
    else:
        sub = _subparsers(parser)
        if sub is not None and positionals_seen == 0:
            found = _visible_commands(sub)
        else:
            found = _positional_values(parser, positionals_seen, values)
    return [word for word in found if word.startswith(current)]


def _values_for(action: argparse.Action, values: Values) -> list[str]:
    if action.choices is not None:
        return [str(choice) for choice in action.choices]
    kind = value_kind(action)
    return values(kind) if kind else []


def _positional_values(parser: argparse.ArgumentParser, index: int, values: Values) -> list[str]:
    positionals = [a for a in parser._actions if not a.option_strings
                   and not isinstance(a, argparse._SubParsersAction)]
    for action in positionals:
        repeats = action.nargs in ("*", "+", argparse.REMAINDER)
        count = action.nargs if isinstance(action.nargs, int) else 1
        if repeats or index < count:
            return _values_for(action, values)
        index -= count
    return []


BASH = """\
# bash completion for gitwarden: source it, or save it as
# ~/.local/share/bash-completion/completions/gitwarden
_gitwarden() {
    local IFS=$'\\n'
    COMPREPLY=($(gitwarden __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -o nosort -F _gitwarden gitwarden
"""

ZSH = """\
#compdef gitwarden
# zsh completion for gitwarden: save it as _gitwarden in a directory of $fpath
_gitwarden() {
    local -a matches
    matches=("${(@f)$(gitwarden __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    matches=(${matches:#})
    if (( ${#matches} )); then
        compadd -Q -- "${matches[@]}"
    else
        _files
    fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _gitwarden "$@"
else
    compdef _gitwarden gitwarden
fi
"""

FISH = """\
# fish completion for gitwarden: save it as ~/.config/fish/completions/gitwarden.fish
function __gitwarden_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l found (gitwarden __complete -- $words[2..-1] 2>/dev/null)
    if test (count $found) -gt 0
        printf '%s\\n' $found
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c gitwarden -f -a '(__gitwarden_complete)'
"""


def script(shell: str) -> str:
    """The completion script for `shell` (bash, zsh or fish)."""
    return {"bash": BASH, "zsh": ZSH, "fish": FISH}[shell]
