"""The signal path on the real desk, as a reviewer reproduced its faults.

- A signal's age came from its bus entry id alone: one its producer stamped 5 h ago
  (held through a Redis outage by the producer's bus client and written later) read
  fresh. It is measured from the older of its two times, and a time ahead of the desk's
  clock is flagged on its row and its ticket.
- A MARKET signal's price was dropped unsaid, and the pane said no order type; a
  stop-limit's one price went into Price with Stop empty.
- A 10 KB note pushed the ticket's problems out of the pane.
- One long strategy name or symbol hid columns for every signal.
- Signals past the pane's 200 were counted nowhere, and a flood erased the others'."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from silvertine_tui.domain import OrderType, Side
from silvertine_tui.events import Signal, SignalEvent
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.signals import Signals
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk

ETH = "ETHUSDT.PAPER"
HOUR_NS = 3600 * 10**9


def sig(
    desk: Desk,
    *,
    strategy: str = "meanrev",
    instrument: str = ETH,
    quantity: str = "0.5",
    price: str | None = "3500.00",
    order_type: OrderType = OrderType.LIMIT,
    note: str = "",
    ts: int | None = None,
) -> SignalEvent:
    return SignalEvent.create(
        f"strategy:{strategy}",
        Signal(
            strategy=strategy,
            instrument=instrument,
            side=Side.BUY,
            quantity=Decimal(quantity),
            price=Decimal(price) if price else None,
            order_type=order_type,
            note=note,
        ),
        ts=desk.clock.ns() if ts is None else ts,
    )


async def publish(desk: Desk, pilot: Any, *events: SignalEvent) -> None:
    for event in events:
        await desk.session.bus.publish(event)
    await desk.settle(pilot)


def pane(desk: Desk) -> Signals:
    return desk.app.screen.query_one(Signals)


def ticket(desk: Desk) -> Ticket:
    return desk.app.screen.query_one(Ticket)


def status(desk: Desk) -> tuple[str, bool]:
    block = ticket(desk).query_one("#t-status", TextBlock)
    return " ".join(block.text.plain.split()), block.has_class("-warn")


async def open_newest(desk: Desk, pilot: Any) -> None:
    await pilot.press("8")
    await desk.settle(pilot)
    await pilot.press("home", "enter")
    await desk.settle(pilot)


async def test_a_signal_stamped_hours_ago_is_said_old(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        made = desk.clock.ns() - 5 * HOUR_NS  # 09:30:01, written on the bus at 14:30:01
        await publish(desk, pilot, sig(desk, strategy="late", note="made at 09:30", ts=made))
        await pilot.press("8", "z")
        await desk.settle(pilot)
        [key] = pane(desk).row_keys
        assert pane(desk).get_cell(key, "time").plain == "09:30:01"
        await pilot.press("z", "enter")
        await desk.settle(pilot)
        assert ticket(desk).draft().tag == "signal:late"
        assert status(desk) == (
            "signal 5h00m old (09:30:01): the market may have moved since; "
            "signal late: made at 09:30",
            True,
        )
        await desk.session.close()


async def test_a_signal_stamped_ahead_of_the_desk_is_flagged(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ahead = desk.clock.ns() + 3 * HOUR_NS
        await publish(desk, pilot, sig(desk, strategy="skew", ts=ahead))
        await pilot.press("8", "z")
        await desk.settle(pilot)
        [key] = pane(desk).row_keys
        # Its age from the older time (the bus's), its row flagged.
        assert pane(desk).get_cell(key, "time").plain == "14:30:01 ahead"
        await pilot.press("z", "enter")
        await desk.settle(pilot)
        assert status(desk) == (
            "signal stamped 3h00m ahead of this desk's clock (17:30:01): its age is not known",
            True,
        )
        await desk.session.close()


async def test_a_market_signals_price_not_used_is_said(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        market = sig(desk, strategy="mkt", price="3000.00", order_type=OrderType.MARKET)
        await publish(desk, pilot, market)
        await pilot.press("8", "z")
        await desk.settle(pilot)
        [key] = pane(desk).row_keys
        assert pane(desk).get_cell(key, "price").plain == "MKT 3,000.00"
        await pilot.press("z", "enter")
        await desk.settle(pilot)
        draft = ticket(desk).draft()
        assert draft.order_type is OrderType.MARKET
        assert draft.limit_price == ""
        assert status(desk) == ("signal price 3,000.00 not used: a market order", True)
        await desk.session.close()


async def test_the_pane_says_a_signals_order_type_at_80_columns(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, sig(desk, strategy="lim"))
        await publish(desk, pilot, sig(desk, strategy="stp", order_type=OrderType.STOP))
        market = sig(desk, strategy="mkt", price=None, order_type=OrderType.MARKET)
        await publish(desk, pilot, market)
        await pilot.press("8")
        await desk.settle(pilot)
        signals = pane(desk)
        assert "price" in signals.shown_columns
        prices = [signals.get_cell(key, "price").plain for key in signals.row_keys]
        assert prices == ["MKT", "STP 3,500.00", "3,500.00"]
        await desk.session.close()


async def test_a_stop_limit_signals_price_is_its_stop(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, sig(desk, strategy="brk", order_type=OrderType.STOP_LIMIT))
        await open_newest(desk, pilot)
        draft = ticket(desk).draft()
        assert draft.order_type is OrderType.STOP_LIMIT
        assert (draft.stop_price, draft.limit_price) == ("3500.00", "")
        assert status(desk) == ("signal price 3,500.00 put in Stop: set the limit", True)
        await desk.session.close()


async def test_a_long_note_leaves_the_tickets_problems_in_view(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        long = sig(desk, strategy="S" * 10_000, quantity="1000", note="N " * 5000)
        await publish(desk, pilot, long)
        await open_newest(desk, pilot)
        problems = ticket(desk).query_one("#t-problems")
        assert "max_notional" in str(problems.render())
        said, _ = status(desk)
        assert said == "signal …"
        # Two lines at most beside Send (20 columns in the desk's grid at 120x36).
        assert ticket(desk).query_one("#t-status").region.height <= 2
        box = desk.app.screen.query_one("#pane-ticket", Pane).content_region
        assert problems.region.height > 0
        assert box.y <= problems.region.y < box.bottom, (problems.region, box)
        await desk.session.close()


async def test_a_long_strategy_name_keeps_every_rows_columns(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, sig(desk, strategy="meanrev", note="2 sigma below"))
        await pilot.press("8", "z")
        await desk.settle(pilot)
        before = pane(desk).shown_columns
        assert {"time", "strategy", "note"} <= set(before)
        await publish(desk, pilot, sig(desk, strategy="S" * 300))
        signals = pane(desk)
        assert signals.shown_columns == before
        assert signals.get_cell(signals.row_keys[0], "strategy").plain == "S" * 15 + "…"
        await desk.session.close()


async def test_a_long_symbol_keeps_every_rows_columns(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, sig(desk))
        await pilot.press("8")
        await desk.settle(pilot)
        before = pane(desk).shown_columns
        assert {"time", "strategy", "qty", "price"} <= set(before)
        await publish(desk, pilot, sig(desk, instrument=ETH + "X" * 300))
        signals = pane(desk)
        assert signals.shown_columns == before
        assert signals.get_cell(signals.row_keys[0], "symbol").plain == (ETH + "X" * 10 + "…")
        await desk.session.close()


async def test_signals_not_kept_are_counted_and_a_flood_keeps_the_others(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, sig(desk, strategy="alpha"))
        await publish(desk, pilot, *(sig(desk, strategy="flood", note=f"#{n}") for n in range(250)))
        await pilot.press("8", "end")
        await desk.settle(pilot)
        edge = str(desk.app.screen.query_one("#pane-signals", Pane).border_subtitle or "")
        assert edge.endswith("51 older not kept (flood 51)")
        signals = pane(desk)
        assert len(signals.row_keys) == 200
        oldest = signals.rows_by_key[signals.row_keys[-1]]
        assert oldest.signal.strategy == "alpha"
        await desk.session.close()
