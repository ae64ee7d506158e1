"""`gitwarden top`: every agent on one live screen, and the user's actions one key away.

The screen only reads: the daemon's control socket when a daemon runs, else the store and
git (TopFeed). Reading happens in a worker thread so the screen never blocks on git; when
nothing changed a poll costs one socket request and two `max(id)` queries. Keys call the
functions the CLI commands call (UserActions), in a worker thread too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, RichLog, Static

from gitwarden.agents.workspace import Workspace
from gitwarden.errors import GitwardenError
from gitwarden.tui.actions import RollbackProposal, UserActions
from gitwarden.tui.feed import TopData, TopFeed
from gitwarden.tui.render import (
    activity_strip,
    agent_detail,
    ago,
    overlap_matrix,
    queue_panel,
)
from gitwarden.tui.screens import HELP, ConfirmScreen, TextScreen, locks_text

POLL_INTERVAL = 0.5
STATE_STYLES = {"ok": "green", "paused": "bold red", "missing": "red", "error": "red",
                "done": "cyan"}
HEALTH_STYLES = {"pass": "green", "fail": "red", "broken": "bold red", "unknown": "dim",
                 "running": "bold cyan", "pending": "cyan"}
AGENT_COLUMNS = ("agent", "state", "branch", "ahead/behind", "health", "last write",
                 "paused", "locks")


class ActivityStrip(Static):
    """The sparklines, as many minutes as fit the widget's width (newest on the right)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names: list[str] = []
        self.counts: dict[str, list[int]] = {}

    def show(self, names: list[str], counts: dict[str, list[int]]) -> None:
        self.names, self.counts = names, counts
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        self.update(activity_strip(self.names, self.counts, self.content_region.width))


class TopApp(App[None]):
    """The live view. `data` is the last reading shown."""

    TITLE = "gitwarden top"
    CSS = """
    #source { height: 1; color: $text-muted; }
    #agents { height: auto; max-height: 14; border: round $primary; }
    #middle { height: auto; max-height: 14; }
    #matrix, #activity { height: auto; border: round $primary; padding: 0 1; }
    #matrix { width: auto; min-width: 40; }
    #activity { width: 1fr; text-wrap: nowrap; text-overflow: clip; }
    #queue { height: auto; max-height: 10; border: round $primary; padding: 0 1; }
    #events { height: 1fr; border: round $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("enter", "detail", "detail"),
        Binding("p", "pause", "pause"),
        Binding("r", "resume", "resume"),
        Binding("c", "checkpoint", "checkpoint"),
        Binding("b", "rollback", "rollback"),
        Binding("l", "locks", "locks"),
        Binding("question_mark", "help", "help"),
        Binding("j", "cursor(1)", show=False),
        Binding("k", "cursor(-1)", show=False),
    ]

    def __init__(self, workspace: Workspace, *, poll_interval: float = POLL_INTERVAL) -> None:
        super().__init__()
        self.workspace = workspace
        self.feed = TopFeed(workspace)
        self.actions = UserActions(workspace)
        self.poll_interval = poll_interval
        self.data: TopData | None = None
        self._polling = threading.Lock()
        self._force = threading.Event()
        self._shown_event = 0

    def compose(self) -> ComposeResult:
        yield Static("reading...", id="source", markup=False)
        agents: DataTable[Any] = DataTable(id="agents", cursor_type="row", zebra_stripes=True)
        agents.border_title = "agents"
        yield agents
        with Horizontal(id="middle"):
            matrix = Static("", id="matrix", markup=False)
            matrix.border_title = "overlaps between agents"
            yield matrix
            activity = ActivityStrip("", id="activity", markup=False)
            activity.border_title = "writes per minute, newest on the right"
            yield activity
        queue = Static("", id="queue", markup=False)
        queue.border_title = "landing queue"
        yield queue
        with Vertical():
            events = RichLog(id="events", max_lines=500, markup=False, wrap=False)
            events.border_title = "events"
            yield events
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#agents", DataTable).add_columns(*AGENT_COLUMNS)
        self._force.set()
        self._start_poll()
        self.set_interval(self.poll_interval, self._start_poll)

    # --- reading -----------------------------------------------------------------------------

    def _start_poll(self) -> None:
        if self._polling.locked():
            return
        self.run_worker(self._poll, thread=True, group="poll", exit_on_error=False)

    def _poll(self) -> None:
        if not self._polling.acquire(blocking=False):
            return
        try:
            force = self._force.is_set()
            self._force.clear()
            try:
                data = self.feed.poll(force=force)
            except (GitwardenError, OSError) as exc:
                self.call_from_thread(self._show_problem, str(exc))
                return
            if data is not None:
                self.call_from_thread(self._show, data)
        finally:
            self._polling.release()

    def refresh_now(self) -> None:
        """Read everything again at the next poll, changed or not."""
        self._force.set()
        self._start_poll()

    def _show_problem(self, message: str) -> None:
        self.query_one("#source", Static).update(Text(f"cannot read: {message}", style="red"))

    def _show(self, data: TopData) -> None:
        self.data = data
        header = Text(f"base {data.base}; {data.source}")
        if data.kill_switch:
            header = Text(f"KILL SWITCH ENGAGED ({data.kill_switch}); {data.source}",
                          style="bold red")
        if self.actions.refused_because:
            header.append("; view only", style="yellow")
        self.query_one("#source", Static).update(header)
        self._show_agents(data)
        names = [a["name"] for a in data.agents]
        self.query_one("#matrix", Static).update(overlap_matrix(names, data.overlaps))
        self.query_one("#activity", ActivityStrip).show(names, data.activity)
        self.query_one("#queue", Static).update(queue_panel(data.queue))
        log = self.query_one("#events", RichLog)
        for event in data.events:
            if event.id > self._shown_event:
                log.write(_event_line(event))
                self._shown_event = event.id

    def _show_agents(self, data: TopData) -> None:
        table: DataTable[Any] = self.query_one("#agents", DataTable)
        selected = self.selected_agent()
        table.clear()
        for agent in data.agents:
            state = agent["state"]
            health, health_style = health_cell(agent)
            table.add_row(
                Text(agent["name"], style="bold"),
                Text(state, style=STATE_STYLES.get(state, "yellow")),
                Text(agent.get("branch") or "(detached)"),
                f"+{agent['ahead']}/-{agent['behind']}",
                Text(health, style=health_style),
                ago(data.last_write.get(agent["name"])),
                Text(agent.get("pause_reason") or ""),
                Text(", ".join(agent.get("locks", []))),
                key=agent["name"])
        names = [a["name"] for a in data.agents]
        if selected in names:
            table.move_cursor(row=names.index(selected))

    # --- selection and keys ------------------------------------------------------------------

    def selected_agent(self) -> str | None:
        table: DataTable[Any] = self.query_one("#agents", DataTable)
        if self.data is None or not self.data.agents or table.row_count == 0:
            return None
        row = min(max(table.cursor_row, 0), table.row_count - 1)
        return str(self.data.agents[row]["name"]) if row < len(self.data.agents) else None

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_detail()

    def action_cursor(self, step: int) -> None:
        table: DataTable[Any] = self.query_one("#agents", DataTable)
        table.move_cursor(row=table.cursor_row + step)

    def action_detail(self) -> None:
        name = self.selected_agent()
        if self.data is None or name is None:
            return
        agent = next(a for a in self.data.agents if a["name"] == name)
        self.push_screen(TextScreen(f"agent {name}", agent_detail(agent, self.data.overlaps)))

    def action_locks(self) -> None:
        held = self.data.locks if self.data else []
        self.push_screen(TextScreen("locks", locks_text(held)))

    def action_help(self) -> None:
        self.push_screen(TextScreen("help", HELP))

    def action_pause(self) -> None:
        self._act(self.actions.pause)

    def action_resume(self) -> None:
        self._act(self.actions.resume)

    def action_checkpoint(self) -> None:
        self._act(self.actions.checkpoint)

    def action_rollback(self) -> None:
        name = self.selected_agent()
        if name is None:
            return

        def propose() -> None:
            try:
                proposal = self.actions.propose_rollback(name)
            except GitwardenError as exc:
                self.call_from_thread(self.notify, exc.message, severity="error")
                return
            self.call_from_thread(self._confirm_rollback, proposal)

        self.run_worker(propose, thread=True, group="action", exit_on_error=False)

    def _confirm_rollback(self, proposal: RollbackProposal) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._act(lambda _name: self.actions.apply_rollback(proposal), proposal.agent)
            else:
                self.notify(f"rollback of {proposal.agent} cancelled: nothing was changed")

        self.push_screen(ConfirmScreen(f"roll back {proposal.agent}?", proposal.lines),
                         answered)

    def _act(self, action: Callable[[str], str], name: str | None = None) -> None:
        """Run a user action on the selected agent in a worker; report it; read again."""
        target = name or self.selected_agent()
        if target is None:
            return

        def run() -> None:
            try:
                message = action(target)
            except GitwardenError as exc:
                self.call_from_thread(self.notify, exc.message, severity="error")
            else:
                self.call_from_thread(self.notify, message)
            self.call_from_thread(self.refresh_now)

        self.run_worker(run, thread=True, group="action", exit_on_error=False)


def health_cell(agent: dict[str, Any]) -> tuple[str, str]:
    """The health of the agent's HEAD: a check under way on HEAD shows as `running` or
    `pending` (after a failure found at HEAD already, which stays first); a verdict of an
    older commit only is marked so."""
    health = str(agent.get("health", "unknown"))
    underway = agent.get("health_progress")
    if underway:
        if health in ("unknown", "running", "pending", "stale", "pass") or (
                agent.get("health_stale") and health not in ("broken", "fail", "error")):
            return underway, HEALTH_STYLES[underway]
        return f"{health}, {underway}", HEALTH_STYLES.get(health, "")
    if agent.get("health_stale"):
        return f"{health} (older HEAD)", HEALTH_STYLES.get(health, "")
    return health, HEALTH_STYLES.get(health, "")


def _event_line(event: Any) -> Text:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
    style = {"warning": "yellow", "error": "red"}.get(event.severity, "")
    line = Text(f"{stamp} ")
    line.append(event.kind, style=style or "cyan")
    if event.agent:
        line.append(f" [{event.agent}]", style="bold")
    line.append(f" {event.message}")
    return line
