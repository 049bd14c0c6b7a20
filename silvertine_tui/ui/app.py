"""The Silvertine Textual app.

This first screen renders the live event feed read back from the bus; the panes of
the workstation (quotes, ticket, blotter, positions, ...) replace it in the UI issue.
Rows arrive on a reader task and are drawn in batches at `ui.frame_rate`, so a burst
of market data costs one repaint per frame, not one per event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from ..engine import FeedEntry, Session
from ..events import describe

Clock = Callable[[], float]

MAX_ROWS = 1_000


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $foreground; }
    """

    def __init__(self, text: str, *, id: str | None = None) -> None:
        super().__init__(text, id=id, markup=False)


class SilvertineApp(App[None]):
    TITLE = "Silvertine"
    CSS = """
    #events { height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_ctrl_c"),
    ]

    def __init__(self, session: Session, *, clock: Clock = time.time) -> None:
        super().__init__()
        self.session = session
        self.clock = clock
        self._pending: list[FeedEntry] = []
        self._rows = 0

    def compose(self) -> ComposeResult:
        yield StatusBar(self._status_text(), id="status")
        table: DataTable[str] = DataTable(id="events", cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer()

    def _status_text(self) -> str:
        mode = "LIVE" if self.session.live else "PAPER"
        now = datetime.fromtimestamp(self.clock(), UTC).strftime("%H:%M:%S")
        return f" SILVERTINE  [{mode}]  bus {self.session.bus_url}  {now} UTC"

    def on_mount(self) -> None:
        table = self.query_one("#events", DataTable)
        table.add_columns("time", "stream", "type", "event")
        frame = 1.0 / self.session.settings.ui.frame_rate
        self.set_interval(frame, self._draw)
        self.set_interval(1.0, self._tick)
        self._read_feed()

    @work(exclusive=True, group="feed")
    async def _read_feed(self) -> None:
        async for entry in self.session.feed():
            self._pending.append(entry)

    def _tick(self) -> None:
        self.query_one("#status", StatusBar).update(self._status_text())

    def _draw(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending[-MAX_ROWS:], []
        table = self.query_one("#events", DataTable)
        prefix = f"{self.session.bus.layout.prefix}:"
        for entry in batch:
            event = entry.event
            ts = getattr(event, "ts", 0)
            stamp = datetime.fromtimestamp(ts / 1e9, UTC).strftime("%H:%M:%S") if ts else "-"
            kind = getattr(event, "type", "?")
            table.add_row(stamp, entry.stream.removeprefix(prefix), kind, describe(event))
            self._rows += 1
        while table.row_count > MAX_ROWS:
            table.remove_row(next(iter(table.rows)))
        table.move_cursor(row=table.row_count - 1)
