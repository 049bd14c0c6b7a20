"""A watching desk's header says it watches however long its bus's address (the
second review's LOW): where the name's place is not shown (the compact layout, 80x24)
the line's `watching <address>` was all that said it, and an address longer than the
room dropped it whole: the header read as a driving desk's. The address is cut now,
never the word."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from silvertine_tui.domain import TradingState
from silvertine_tui.ui.widgets.header import DeskHeader

LONG = "redis://md-journal-primary.trading-floor.example.internal:6379/0"


class HeaderApp(App[None]):
    def __init__(self, *, watching: bool, compact: bool) -> None:
        super().__init__()
        self.header = DeskHeader(live=False, bus=LONG, watching=watching)
        self.header.compact = compact

    def compose(self) -> ComposeResult:
        yield self.header


@pytest.mark.parametrize("state", [TradingState.ACTIVE, TradingState.REDUCE_ONLY])
@pytest.mark.parametrize("width", [80, 60])
async def test_a_compact_watching_header_says_watching_with_a_long_bus_address(
    state: TradingState, width: int
) -> None:
    app = HeaderApp(watching=True, compact=True)
    async with app.run_test(size=(width, 24)) as pilot:
        app.header.set_state(state, 3600.0, live=False)
        await pilot.pause()
        line = str(app.header.render())
        assert len(line) == width, line
        assert "watching" in line.lower(), line
        assert line.endswith("01:00:00 UTC "), line


async def test_a_driving_desks_compact_header_leaves_a_long_address_out() -> None:
    """A driving desk's address is only the bus's: left out when it does not fit, as
    before (nothing there may read `watching`)."""
    app = HeaderApp(watching=False, compact=True)
    async with app.run_test(size=(80, 24)) as pilot:
        app.header.set_state(TradingState.ACTIVE, 3600.0, live=False)
        await pilot.pause()
        line = str(app.header.render())
        assert "watching" not in line.lower(), line
        assert "redis://" not in line, line
