"""A long reason in the Health pane continues under its text. At 80x24 IB's
`api DISCONNECTED no TWS or IB Gateway listening at ... (connection` went on at column
0 with `refused); start it and enable the API ...`, which read as a line of its own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.text import Text
from textual.app import App, ComposeResult

from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.ui.model import ComponentHealth
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, broker_line
from silvertine_tui.ui.widgets.text import HANG, hang_rows

BUS = BusLine("memory", "memory://", True, None, 0.0, 0.0, 0, 0, 0, "")
REASON = (
    "no TWS or IB Gateway listening at 127.0.0.1:17497 (connection refused); start it "
    "and enable the API (Configure > API > Settings); retrying in 8s"
)


class OnePane(App[None]):
    def compose(self) -> ComposeResult:
        yield HealthPane(id="health")


async def test_a_long_link_reason_wraps_under_its_text_at_80_columns() -> None:
    app = OnePane()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(HealthPane)
        health = ComponentHealth(
            component="broker:ib/DU123456",
            state=ConnectionState.DISCONNECTED,
            message="",
            metrics={"link:api": "DISCONNECTED", "link_detail:api": REASON},
            ts_ms=0,
        )
        line = broker_line("ib/DU123456", health, ConnectionState.DISCONNECTED, None, 0.0)
        pane.set_text(pane.render_text([line], BUS, TradingState.ACTIVE))
        await pilot.pause()
        rows = pane.render().plain.split("\n")
        start = next(i for i, row in enumerate(rows) if row.startswith("  api DISCONNECTED"))
        continued = rows[start + 1 : start + 3]
        assert rows[start].endswith("(connection")
        assert continued[0].startswith("    refused); start it and enable the API")
        assert all(row.startswith("    ") for row in continued)
        assert all(cell_len(row) <= 80 for row in rows)
        # The pane is as tall as the rows it draws.
        assert pane.size.height == len(rows)


WORDS = st.lists(
    st.text(alphabet="abcdefghij0123456789();:.-", min_size=1, max_size=30), min_size=1
)


@given(indent=st.integers(0, 6), words=WORDS, width=st.integers(1, 100))
def test_rows_fit_keep_every_word_and_hang_under_the_text(
    indent: int, words: list[str], width: int
) -> None:
    plain = " " * indent + " ".join(words)
    rows = [row.plain for row in hang_rows(Text(plain), width)]
    assert all(cell_len(row) <= width for row in rows)
    assert "".join(r.replace(" ", "") for r in rows) == plain.replace(" ", "")
    pad = indent + HANG
    if width - pad >= 10:
        assert all(row.startswith(" " * pad) for row in rows[1:])
