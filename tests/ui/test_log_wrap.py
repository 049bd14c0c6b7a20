"""What the desk's narrow panes cut (an IB desk review at 120x36).

- The Log beside two panes is 34 columns, 25 under the time: IB's fee for a fill whose
  commission came late (`FEE AAPL.SMART 1.00 USD for fill 0000e682f08.0000000c.01.01`)
  split the execution id where the room ended (`0000e682f08.0000000c.01.0` / `1`): a
  trader matching it against TWS's trades read another id. A word is never broken
  unless it is wider than the pane.
- The Orders pane's bottom line while IB is DEGRADED (1100) was cut by Textual (`ib/
  DU123456 DEGRADED: 1 order's state unknown; 1 working of 11 today …`): the least
  useful part goes first (the `a: all` hint, which the key bar names too), so what is
  left is whole.

The real ib_async client against the fake TWS."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from textual.pilot import Pilot

from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.ui.screens.main import fitting
from silvertine_tui.ui.widgets.event_log import EventLog, wrap_under
from tests.fakes.tws import FakeTws
from tests.support.ib import aapl_limit_buy, paper_and_ib

from .conftest import Desk, until

COID = "stmxc5jt6r1xip75quki"


def screen_lines(desk: Desk) -> list[str]:
    return [strip.text.rstrip() for strip in desk.app.screen._compositor.render_strips()]


async def working_at_ib(desk: Desk, pilot: Pilot[None], fake: FakeTws) -> None:
    view = desk.session.projection
    await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
    await fake.set_quote("AAPL", "150.00", "150.05")
    await until(pilot, "the AAPL quote", lambda: "AAPL.SMART" in desk.app.model.quotes)
    await desk.session.engine.submit(aapl_limit_buy(COID, fake.account))
    await until(
        pilot,
        "NEW",
        lambda: (v := view.order(COID)) is not None and v.order.status is OrderStatus.NEW,
    )


async def test_an_execution_id_in_the_log_is_never_split(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            await working_at_ib(desk, pilot, fake)
            fake.hold_next_commissions()
            await fake.fill(fake.orders[0].order_id)
            await until(
                pilot,
                "the fill journaled without its fee",
                lambda: any(line.text.startswith("FILL ") for line in desk.app.model.log),
            )
            await fake.release_commissions()
            await until(
                pilot,
                "the fee's line",
                lambda: any(line.text.startswith("FEE ") for line in desk.app.model.log),
            )
            await desk.settle(pilot)
            [fee] = [line.text for line in desk.app.model.log if line.text.startswith("FEE ")]
            exec_id = fee.split(" for fill ")[1].split(" ")[0]
            assert len(exec_id) == 26, exec_id
            log = desk.app.screen.query_one(EventLog)
            assert log.scrollable_content_region.width == 34  # 25 under the time
            lines = screen_lines(desk)
            assert any(exec_id in line for line in lines), "\n".join(lines)
            await desk.session.close()


words = st.text(alphabet="ab.0123456789", min_size=1, max_size=40)


@given(
    prefix=st.sampled_from(["", "17:57:03 ", "17:57:03 update  "]),
    said=st.lists(words, min_size=1, max_size=12),
    width=st.integers(min_value=20, max_value=60),
)
@example(
    prefix="17:57:03 ",
    said=["FEE", "AAPL.SMART", "1.00", "USD", "for", "fill", "0000e682f08.0000000c.01.01"],
    width=34,
)
def test_words_are_broken_only_when_wider_than_the_pane(
    prefix: str, said: list[str], width: int
) -> None:
    rows = wrap_under(prefix, " ".join(said), width)
    assert all(len(row) <= width for row in rows), rows
    assert rows[0].startswith(prefix.rstrip())
    pieces = [p for row in (rows[0][len(prefix) :], *rows[1:]) for p in row.split(" ") if p]
    assert "".join(pieces) == "".join(said)  # nothing lost, nothing added, in order
    for word in said:
        if len(word) <= width:
            assert word in pieces, (word, rows)  # whole on one row


def test_the_first_that_fits_is_said() -> None:
    choices = ("a long title (a: all)", "a long title", "short")
    assert fitting(choices, None) == choices[0]
    assert fitting(choices, 21) == choices[0]
    assert fitting(choices, 20) == "a long title"
    assert fitting(choices, 6) == "short"
    assert fitting(choices, 3) == "short"  # cut at the edge, the least


def orders_bottom(desk: Desk) -> str:
    """The Orders pane's bottom edge, as drawn (the grid's: under the Quotes)."""
    lines = screen_lines(desk)
    [at] = [n for n, line in enumerate(lines) if "3 Orders" in line]
    return next(line for line in lines[at + 1 :] if line.startswith("╰"))


async def test_the_orders_bottom_line_while_degraded_is_whole(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(140, 40)) as pilot:
            await desk.start(pilot)
            await working_at_ib(desk, pilot, fake)
            await fake.connectivity_lost()  # 1100
            view = desk.session.projection
            await until(
                pilot, "IB DEGRADED", lambda: view.broker_state("ib") is ConnectionState.DEGRADED
            )
            await desk.next_second(pilot)
            unknown = "ib/DU123456 DEGRADED: 1 order's state unknown"
            wide = orders_bottom(desk)
            assert f"{unknown}; 1 working of 1 today (a: all)" in wide, wide
            await pilot.resize_terminal(120, 36)
            await desk.next_second(pilot)
            bottom = orders_bottom(desk)
            assert "…" not in bottom, bottom
            assert f"─ {unknown}; 1 working of 1 today ─╯" in bottom, bottom
            await desk.session.close()
