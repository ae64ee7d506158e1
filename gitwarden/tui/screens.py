"""The screens `gitwarden top` opens over the main view: agent detail, the rollback
confirmation, the lock view and help. Each closes with escape (or q)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gitwarden.coordination.lock_rules import Lock
from gitwarden.output import table
from gitwarden.units import format_duration

HELP = """\
gitwarden top: every agent, live

  up/down, j/k  select an agent
  enter         the agent's detail: changed files, overlaps with the other agents' lines
  p             pause the agent (as `gitwarden pause AGENT`)
  r             resume the agent (as `gitwarden resume AGENT`)
  c             checkpoint the agent now (as `gitwarden checkpoint AGENT`)
  b             roll the agent back to its last clean checkpoint: shows the dry run first,
                changes nothing until you press y (as `gitwarden rollback AGENT`)
  l             the locks held, by whom, until when
  ?             this help
  q             quit (escape closes a window)

Actions are recorded in `gitwarden events` as the user's."""

_CSS = """
ModalScreen { align: center middle; }
#panel { width: 90%; height: 80%; border: round $accent; padding: 0 1;
         background: $surface; }
"""


class TextScreen(ModalScreen[None]):
    """A scrollable text shown over the main view."""

    DEFAULT_CSS = _CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "close")]

    def __init__(self, title: str, body: Text | str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="panel") as panel:
            panel.border_title = self.title_text
            yield Static(self.body, markup=False, id="body")

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """The dry run of a change, and a yes/no: only `y` confirms."""

    DEFAULT_CSS = _CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "answer(True)", "yes, do it"),
                Binding("n,escape,q", "answer(False)", "no")]

    def __init__(self, title: str, lines: Sequence[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="panel") as panel:
            panel.border_title = self.title_text
            body = Text("\n".join(self.lines) + "\n\n")
            body.append("A safety checkpoint and a backup ref are taken first. "
                        "Proceed? y / N", style="bold")
            yield Static(body, markup=False, id="plan")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def locks_text(locks: Sequence[Lock], now: float | None = None) -> str:
    """The lock view: the same columns as `gitwarden locks`."""
    if not locks:
        return "no locks"
    now = now or time.time()
    rows = []
    for lock in locks:
        left = ("no expiry" if lock.expires_at is None else
                "expired" if lock.expired(now) else format_duration(lock.expires_at - now))
        rows.append([lock.pattern, lock.kind, lock.agent, left, lock.reason])
    return table(["pattern", "kind", "agent", "left", "reason"], rows)
