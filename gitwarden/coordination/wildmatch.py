"""git's wildmatch (wildmatch.c with WM_PATHNAME), the glob dialect of pathspecs and
.gitignore: `*` and `?` stop at '/', `**` between slashes spans directories, `[...]` classes
with `!`/`^` negation, ranges and `[:alpha:]` names, and `\\` escapes.
"""

from __future__ import annotations

from collections.abc import Callable

_MATCH = 0
_NOMATCH = 1
_ABORT_ALL = -1
_ABORT_TO_STARSTAR = -2
_END = "\0"
_GLOB_SPECIAL = frozenset("*?[\\")

_CLASSES: dict[str, Callable[[str], bool]] = {
    "alnum": str.isalnum, "alpha": str.isalpha, "blank": lambda c: c in " \t",
    "cntrl": lambda c: ord(c) < 32 or ord(c) == 127, "digit": lambda c: "0" <= c <= "9",
    "graph": lambda c: 32 < ord(c) < 127, "lower": str.islower,
    "print": lambda c: 32 <= ord(c) < 127,
    "punct": lambda c: 32 < ord(c) < 127 and not c.isalnum(),
    "space": lambda c: c in " \t\n\r\f\v", "upper": str.isupper,
    "xdigit": lambda c: c in "0123456789abcdefABCDEF",
}


def has_glob(pattern: str) -> bool:
    """Whether the pattern has any wildcard (otherwise it is a literal path)."""
    return any(ch in _GLOB_SPECIAL for ch in pattern)


def literal_prefix(pattern: str) -> str:
    """The leading directories of `pattern` that contain no wildcard ("src/a/" for "src/a/*.py")."""
    cut = next((i for i, ch in enumerate(pattern) if ch in _GLOB_SPECIAL), len(pattern))
    head = pattern[:cut]
    return head if cut == len(pattern) else head[: head.rfind("/") + 1]


def wildmatch(pattern: str, text: str) -> bool:
    """Whether `text` (a slash-separated path) matches `pattern` the way git matches it."""
    return _dowild(pattern + _END, 0, text + _END, 0) == _MATCH


def _dowild(p: str, pi: int, t: str, ti: int) -> int:
    while p[pi] != _END:
        p_ch = p[pi]
        t_ch = t[ti]
        if t_ch == _END and p_ch != "*":
            return _ABORT_ALL
        if p_ch == "\\":
            pi += 1
            p_ch = p[pi]
            if t_ch != p_ch:
                return _NOMATCH
        elif p_ch == "?":
            if t_ch == "/":
                return _NOMATCH
        elif p_ch == "*":
            pi += 1
            if p[pi] == "*":
                prev = pi - 2
                while p[pi] == "*":
                    pi += 1
                if (prev < 0 or p[prev] == "/") and (
                        p[pi] in (_END, "/") or (p[pi] == "\\" and p[pi + 1] == "/")):
                    if p[pi] == "/" and _dowild(p, pi + 1, t, ti) == _MATCH:
                        return _MATCH
                    match_slash = True
                else:
                    match_slash = False
            else:
                match_slash = False
            if p[pi] == _END:
                if not match_slash and "/" in t[ti:-1]:
                    return _NOMATCH
                return _MATCH
            if not match_slash and p[pi] == "/":
                slash = t.find("/", ti)
                if slash < 0:
                    return _NOMATCH
                ti = slash
                # the slash itself is consumed below, as by the loop in wildmatch.c
                pi += 1
                ti += 1
                continue
            while True:
                if t_ch == _END:
                    break
                if p[pi] not in _GLOB_SPECIAL:
                    want = p[pi]
                    while True:
                        t_ch = t[ti]
                        if t_ch in (_END, want) or (not match_slash and t_ch == "/"):
                            break
                        ti += 1
                    if t_ch != want:
                        return _ABORT_ALL if match_slash else _ABORT_TO_STARSTAR
                matched = _dowild(p, pi, t, ti)
                if matched != _NOMATCH:
                    if not match_slash or matched != _ABORT_TO_STARSTAR:
                        return matched
                elif not match_slash and t_ch == "/":
                    return _ABORT_TO_STARSTAR
                ti += 1
                t_ch = t[ti]
            return _ABORT_ALL
        elif p_ch == "[":
            result = _bracket(p, pi, t_ch)
            if result is None:
                return _ABORT_ALL
            matched_class, pi = result
            if not matched_class or t_ch == "/":
                return _NOMATCH
        elif t_ch != p_ch:
            return _NOMATCH
        pi += 1
        ti += 1
    return _MATCH if t[ti] == _END else _NOMATCH


def _bracket(p: str, pi: int, t_ch: str) -> tuple[bool, int] | None:
    """Match one character class starting at p[pi] == '['; returns (matched, index of ']')."""
    pi += 1
    p_ch = p[pi]
    if p_ch == "^":
        p_ch = "!"
    negated = p_ch == "!"
    if negated:
        pi += 1
        p_ch = p[pi]
    prev_ch = ""
    matched = False
    while True:
        if p_ch == _END:
            return None
        if p_ch == "\\":
            pi += 1
            p_ch = p[pi]
            if p_ch == _END:
                return None
            if t_ch == p_ch:
                matched = True
        elif p_ch == "-" and prev_ch and p[pi + 1] != _END and p[pi + 1] != "]":
            pi += 1
            p_ch = p[pi]
            if p_ch == "\\":
                pi += 1
                p_ch = p[pi]
                if p_ch == _END:
                    return None
            if prev_ch <= t_ch <= p_ch:
                matched = True
            p_ch = ""
        elif p_ch == "[" and p[pi + 1] == ":":
            start = pi + 2
            end = start
            while p[end] != _END and p[end] != "]":
                end += 1
            if p[end] == _END:
                return None
            if end - start - 1 < 0 or p[end - 1] != ":":
                # no ":]": a plain '[' in the set
                if t_ch == "[":
                    matched = True
            else:
                test = _CLASSES.get(p[start:end - 1])
                if test is None:
                    return None
                if t_ch != _END and test(t_ch):
                    matched = True
                pi = end
                p_ch = ""
        elif t_ch == p_ch:
            matched = True
        prev_ch = p_ch
        pi += 1
        p_ch = p[pi]
        if p_ch == "]":
            break
    return matched != negated, pi
