"""An order's history times a fill by when it was executed, not by when the desk heard
of it (docs/ui.md, "Order history").

Every line was timed by the event's journal time: a fill found on a reconnect (the
paper venue's resync, IB's and Binance's catch-up) read at the time of the reconnect,
not of its execution (`Fill.venue_ts_ns`): `14:30:04 fill FILL BUY 2 ...` for a fill
executed at 14:30:02. Its line now shows the execution time and, where the desk heard
of it a second or more apart, says when at its end (`, heard 14:30:04`), the time
column as narrow as before. A fill heard as it happened reads as every other line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.pilot import Pilot

from silvertine_tui.domain import Book, BookLevel, Fill, OrderStatus, Side
from silvertine_tui.events import FillEvent
from silvertine_tui.ui.fill_times import line_times

from .conftest import Desk, limit_buy
from .test_history_follows import body_lines

ETH = "ETHUSDT.PAPER"
CID = "st000000000000000771"


async def through_the_buy(desk: Desk, pilot: Pilot[None]) -> None:
    """The market trades through the resting buy at 3,400.00 (asks at 3,390.00)."""
    await desk.broker.on_market_data(
        Book(
            instrument=ETH,
            bids=(BookLevel(price=Decimal("3389.00"), size=Decimal("5")),),
            asks=(BookLevel(price=Decimal("3390.00"), size=Decimal("5")),),
        )
    )
    await desk.settle(pilot)


async def open_history(desk: Desk, pilot: Pilot[None]) -> list[str]:
    """The filled order's history from the Orders pane with every order of the day
    (`3`, `a`, `end`, `h`), as a trader opens it: its lines."""
    await pilot.press("3", "a", "end", "h")
    await desk.settle(pilot)
    screen = desk.app.screen
    assert screen.view.client_order_id == CID  # type: ignore[attr-defined]
    return body_lines(screen)  # type: ignore[arg-type]


def fill_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if " FILL " in line]


def screen_lines(desk: Desk) -> list[str]:
    return [strip.text.rstrip() for strip in desk.app.screen._compositor.render_strips()]


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_fill_found_on_a_reconnect_reads_at_its_execution(make_desk, size) -> None:
    """The link drops at 14:30:01; the buy fills at the venue at 14:30:02; the link is
    back at 14:30:04 and the resync journals the fill then. Its line says 14:30:02,
    and at its end that it was heard at 14:30:04 (on screen at 80x24 too)."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)  # 14:30:01
        await desk.session.engine.submit(limit_buy(CID, ETH, "2", "3400.00"))
        await desk.settle(pilot)
        await desk.broker.drop_link()
        desk.clock.advance(1)  # 14:30:02: it fills at the venue, unheard
        await through_the_buy(desk, pilot)
        desk.clock.advance(2)  # 14:30:04: back, and the resync journals the fill
        await desk.broker.restore_link()
        await desk.settle(pilot)
        view = desk.session.projection.order(CID)
        assert view is not None
        assert view.order.status is OrderStatus.FILLED
        lines = await open_history(desk, pilot)
        [fill] = fill_lines(lines)
        assert fill.startswith("14:30:02 fill "), lines
        assert fill.endswith(
            " FILL BUY 2 ETHUSDT.PAPER @ 3,400.00 fee 5.44 USDT (…0771), heard 14:30:04"
        )
        # The time column as narrow as before: the request's line as it was.
        assert lines[0].startswith("14:30:01 order.request SEND BUY 2"), lines
        painted = "\n".join(screen_lines(desk))
        assert "14:30:02 fill " in painted, painted
        assert "heard 14:30:04" in painted, painted
        await desk.session.close()


async def test_a_fill_heard_as_it_happened_reads_as_every_line(make_desk) -> None:
    """Heard at once, a fill's line is timed as every other (no `heard`)."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.engine.submit(limit_buy(CID, ETH, "2", "3400.00"))
        await desk.settle(pilot)
        desk.clock.advance(1)
        await through_the_buy(desk, pilot)
        lines = await open_history(desk, pilot)
        [fill] = fill_lines(lines)
        assert fill.startswith("14:30:02 fill          FILL BUY 2 "), lines
        assert fill.endswith("(…0771)"), lines
        assert not [line for line in lines if "heard" in line], lines
        await desk.session.close()


S = 1_000_000_000
AT = 1_767_364_202 * S  # 14:30:02


def fill_event(heard_ns: int, executed_ns: int | None) -> FillEvent:
    fill = Fill(
        exec_id="x1",
        client_order_id=CID,
        broker="paper",
        account="main",
        instrument=ETH,
        side=Side.BUY,
        quantity=Decimal(2),
        price=Decimal("3400.00"),
        venue_ts_ns=executed_ns,
    )
    return FillEvent.create("paper/main", fill, ts=heard_ns)


@pytest.mark.parametrize(
    ("executed", "heard", "said"),
    [
        (AT, AT + 2 * S, ("14:30:02", "14:30:04")),  # found on a reconnect
        (AT + S - S // 10, AT + S + S // 10, ("14:30:02", "")),  # 0.2 s: one moment
        (AT, AT + S, ("14:30:02", "14:30:03")),  # a second: said
        (AT + 3 * S, AT, ("14:30:05", "14:30:02")),  # the venue's clock ahead
        (None, AT, ("14:30:02", "")),  # no venue time: when journaled
    ],
    ids=["reconnect", "under-a-second", "a-second", "venue-ahead", "no-venue-time"],
)
def test_a_fill_s_times_on_its_line(
    executed: int | None, heard: int, said: tuple[str, str]
) -> None:
    """A fill's line is timed at its execution; when the desk heard of it is said a
    second or more apart (under that, however a second turned between two clocks, the
    two are one moment at the view's second)."""
    assert line_times(fill_event(heard, executed)) == said
