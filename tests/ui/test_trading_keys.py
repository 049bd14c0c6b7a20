"""Placing, modifying and cancelling orders with the keyboard only, on the real session
and paper broker; a double press sends once; bad input sends nothing and says why."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Input

from silvertine_tui.domain import OrderStatus, Side, TradingState
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.choice import Choice
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk, make_settings, market_buy

ETH = "ETHUSDT.PAPER"


def cell(table: Blotter | Positions | Watchlist, row: str, column: str) -> str:
    return table.get_cell(row, column).plain


async def type_into(pilot, text: str) -> None:
    await pilot.press(*list(text))


async def clear_field(pilot, ticket: Ticket, name: str) -> None:
    ticket.query_one(f"#t-{name}", Input).value = ""
    await pilot.pause()


async def select_quote(desk: Desk, pilot, instrument: str) -> None:
    await pilot.press("1", "home")
    watchlist = desk.app.screen.query_one(Watchlist)
    for _ in range(watchlist.row_count):
        if watchlist.selected_instrument() == instrument:
            return
        await pilot.press("down")
    raise AssertionError(f"{instrument} not in the watchlist")


def ticket_of(desk: Desk) -> Ticket:
    return desk.app.screen.query_one(Ticket)


async def open_buy_ticket(desk: Desk, pilot, instrument: str) -> Ticket:
    """Select the quote and press b: the ticket, filled in to buy at the ask."""
    await select_quote(desk, pilot, instrument)
    await pilot.press("b")
    return ticket_of(desk)


async def open_market_buy_ticket(desk: Desk, pilot, instrument: str) -> Ticket:
    """The buy ticket turned to MARKET (and IOC) by its keys, the quantity field next."""
    ticket = await open_buy_ticket(desk, pilot, instrument)
    ticket.query_one("#t-order_type").focus()
    await pilot.press("left")  # LIMIT -> MARKET (and TIF to IOC)
    assert ticket.draft().order_type.value == "MARKET"
    ticket.query_one("#t-quantity", Input).focus()
    return ticket


async def test_place_modify_cancel_by_keys(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        await pilot.press("b")  # buy at the ask: the ticket is prefilled
        ticket = ticket_of(desk)
        draft = ticket.draft()
        ask = desk.app.model.quotes["ETHUSDT.PAPER"].quote.ask
        assert (draft.instrument, draft.side, draft.limit_price) == (
            "ETHUSDT.PAPER",
            Side.BUY,
            f"{ask:f}",
        )
        assert desk.app.focused is ticket.query_one("#t-quantity", Input)
        # A resting bid well below the market: price field, then quantity.
        ticket.query_one("#t-limit_price", Input).value = "3400.00"
        await type_into(pilot, "0.5")
        await pilot.press("enter")
        await desk.settle(pilot)
        working = engine.oms.working()
        assert len(working) == 1
        coid = working[0].client_order_id
        blotter = desk.app.screen.query_one(Blotter)
        assert coid in blotter.row_keys
        assert cell(blotter, coid, "price") == "3,400.00"
        assert cell(blotter, coid, "status") == "NEW"

        # Modify: price and quantity, from the blotter (esc leaves the ticket's fields).
        await pilot.press("escape", "3", "m")
        await pilot.pause()
        assert isinstance(desk.app.screen, ModifyScreen)
        desk.app.screen.query_one("#m-limit_price", Input).value = "3410.00"
        desk.app.screen.query_one("#m-quantity", Input).value = "0.7"
        await pilot.press("enter")
        await desk.settle(pilot)
        order = engine.oms.get(coid)
        assert order is not None
        assert (order.order.limit_price, order.order.quantity) == (
            Decimal("3410.00"),
            Decimal("0.7"),
        )
        assert cell(blotter, coid, "price") == "3,410.00"
        assert cell(blotter, coid, "qty") == "0.7"

        # Its history lists the request, the acks and the modify.
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(desk.app.screen, OrderHistoryScreen)
        kinds = [e.type for e in desk.app.screen.view.history]
        assert kinds[0] == "order.request"
        assert "order.modify" in kinds
        await pilot.press("escape")
        await pilot.pause()

        # Cancel: the row leaves the blotter.
        await pilot.press("c")
        await desk.settle(pilot)
        cancelled = engine.oms.get(coid)
        assert cancelled is not None
        assert cancelled.order.status is OrderStatus.CANCELED
        assert coid not in blotter.row_keys
        await desk.session.close()


async def test_market_order_changes_positions_and_close_ticket(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_market_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await type_into(pilot, "0.5")
        await pilot.press("f9")
        await desk.settle(pilot)
        engine = desk.session.engine
        positions = desk.app.screen.query_one(Positions)
        key = "paper/main/ETHUSDT.PAPER"
        assert key in positions.row_keys
        assert cell(positions, key, "qty") == "0.5"
        assert engine.position("paper", "main", "ETHUSDT.PAPER") == Decimal("0.5")
        # The market moves: the mark and the unrealized P&L follow, cell by cell.
        before = cell(positions, key, "mark")
        await desk.step(pilot, 10)
        await desk.next_second(pilot)  # marks are drawn once a second: the last one's
        mark = engine.portfolio.mark("ETHUSDT.PAPER")
        assert mark is not None
        # The mark exactly as the P&L takes it (a mid between ticks keeps its half tick).
        assert Decimal(cell(positions, key, "mark").replace(",", "")) == mark
        assert cell(positions, key, "mark") != before
        state = engine.portfolio.positions[("paper", "main", "ETHUSDT.PAPER")]
        upl = engine.portfolio.unrealized(state)
        assert upl is not None
        assert cell(positions, key, "upl").replace("+", "") == f"{upl:,.2f}"
        # x on the position: the closing ticket (sell 0.5 at the bid), not sent.
        await pilot.press("escape", "4", "x")
        draft = ticket.draft()
        assert (draft.side, draft.quantity, draft.instrument) == (
            Side.SELL,
            "0.5",
            "ETHUSDT.PAPER",
        )
        bid = desk.app.model.quotes["ETHUSDT.PAPER"].quote.bid
        assert draft.limit_price == f"{bid:f}"
        assert ticket.sent_count == 1
        await desk.session.close()


async def test_a_close_ticket_only_reduces_when_the_position_moves_before_f9(
    make_desk,
) -> None:
    """`x` on a long 1 fills SELL 1; half the position is sold elsewhere before F9. The
    closing ticket is reduce-only: it says so in its preview, and F9 is refused at the
    ticket naming the quantity and the largest that reduces, nothing sent. It was a
    plain SELL 1: sent, it left the account short 0.5 (on an account that can short)."""
    desk = make_desk(settings=make_settings(paper={"checks": {"short_selling": True}}))
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000901", ETH, "1"))
        await desk.settle(pilot)
        assert engine.position("paper", "main", ETH) == Decimal(1)
        await pilot.press("4", "x")
        await desk.settle(pilot)
        ticket = desk.app.screen.query_one(Ticket)
        draft = ticket.draft()
        assert (draft.side, draft.quantity, draft.reduce_only) == (Side.SELL, "1", True)
        checked = ticket.run_check()
        assert checked.preview is not None
        assert checked.preview.text().endswith("pos 1->0 reduce-only")
        sold = market_buy("st000000000000000902", ETH, "0.5").model_copy(update={"side": Side.SELL})
        await engine.submit(sold)
        await desk.settle(pilot)
        assert engine.position("paper", "main", ETH) == Decimal("0.5")
        orders = len(engine.oms.orders)
        ticket.action_fire()
        await desk.settle(pilot)
        assert len(engine.oms.orders) == orders, "the close went out"
        assert engine.position("paper", "main", ETH) == Decimal("0.5")
        said = [str(p) for p in ticket.run_check().problems]
        assert said == [
            "Qty: order marked reduce-only: a sell of 1 would take position 0.5 through "
            "zero; largest allowed 0.5 [reduce_only]"
        ], said
        # A fresh ticket never inherits it.
        await pilot.press("escape", "1", "b")
        await desk.settle(pilot)
        assert ticket.draft().reduce_only is False
        await desk.session.close()


async def test_after_a_close_fills_its_problems_are_said_to_be_the_next_f9s(make_desk) -> None:
    """The close sent and filled; the ticket, unchanged, checks what F9 would send
    again (refused: nothing left to reduce). Listed bare under "sent ...: SELL 1",
    those problems read as why the close failed; they are headed as F9 again's."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000911", ETH, "1"))
        await desk.settle(pilot)
        await pilot.press("4", "x")
        await desk.settle(pilot)
        ticket = desk.app.screen.query_one(Ticket)
        problems = ticket.query_one("#t-problems", TextBlock)
        await pilot.press("f9")
        for _ in range(5):
            await desk.step(pilot, 1)
        assert engine.position("paper", "main", ETH) == Decimal(0)
        status = ticket.query_one("#t-status", TextBlock).text.plain
        assert status.startswith("sent "), status
        assert status.endswith(f"SELL 1 {ETH}"), status
        lines = problems.text.plain.splitlines()
        assert lines[0] == "F9 again would not be sent:", lines
        assert "nothing to reduce" in lines[1], lines
        # Changed, the ticket is a new order's: its problems are its own, unheaded.
        await type_into(pilot, "2")
        assert not problems.text.plain.startswith("F9 again"), problems.text.plain
        await desk.session.close()


async def test_double_press_sends_once(make_desk, clock) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-limit_price", Input).value = "64000.00"
        await type_into(pilot, "0.01")
        await pilot.press("enter", "enter", "f9")  # three presses within the debounce
        await desk.settle(pilot)
        assert ticket.sent_count == 1
        assert len(desk.session.engine.oms.orders) == 1
        # Later, a deliberate second press is a new order with a new id (the ticket
        # unchanged, it asks first: tests/ui/test_ticket_repeat.py).
        clock.advance(1.0)
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        assert desk.app.screen.title_text.endswith(" again?")
        await pilot.press("y")
        await desk.settle(pilot)
        assert ticket.sent_count == 2
        ids = list(desk.session.engine.oms.orders)
        assert len(ids) == 2
        assert ids[0] != ids[1]
        await desk.session.close()


async def test_a_held_fire_key_sends_once(make_desk, clock) -> None:
    """A terminal sends no key-release: F9 held down (or hammered) is a burst of presses
    ~30 ms apart. Each press within the debounce of the one before it is swallowed and
    restarts the interval, so two seconds of it send one order; a press after the key
    was quiet for longer than the interval sends the next."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-limit_price", Input).value = "64000.00"
        await type_into(pilot, "0.01")
        assert desk.app.desk.fire_debounce_s == 0.5
        await pilot.press("f9")
        for _ in range(67):  # 2 s of key auto-repeat
            await desk.settle(pilot)  # each send finishes before the next press
            clock.advance(0.03)
            await pilot.press("f9")
        await desk.settle(pilot)
        assert ticket.sent_count == 1
        assert len(desk.session.engine.oms.orders) == 1
        # Quiet for 0.6 s: a deliberate press sends the second order, once the trader
        # says yes to sending the same order again.
        clock.advance(0.6)
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        assert len(desk.session.engine.oms.orders) == 1
        await pilot.press("y")
        await desk.settle(pilot)
        assert ticket.sent_count == 2
        assert len(desk.session.engine.oms.orders) == 2
        await desk.session.close()


async def test_fire_while_sending_does_not_send_again(make_desk, clock) -> None:
    """Past the debounce, a press while the first order is still in flight is refused."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-limit_price", Input).value = "64000.00"
        await type_into(pilot, "0.01")
        ticket.action_fire()
        assert ticket.sending
        clock.advance(5.0)
        ticket.action_fire()  # before the worker ran: still sending
        await desk.settle(pilot)
        assert ticket.sent_count == 1
        assert len(desk.session.engine.oms.orders) == 1
        status = ticket.query_one("#t-status", TextBlock).text.plain
        assert "sent" in status
        await desk.session.close()


BAD_INPUT = [
    # field, value, rule shown
    ("instrument", "DOGEUSDT.PAPER", "unknown"),
    ("instrument", "", "required"),
    ("quantity", "abc", "number"),
    ("quantity", "-1", "positive"),
    ("quantity", "0.000001", "min_qty"),
    ("quantity", "0.000015", "lot_size"),
    ("quantity", "0.00005", "min_notional"),
    ("quantity", "100", "max_notional"),
    ("limit_price", "65000.005", "tick_size"),
    ("limit_price", "1.00", "price_collar"),
    ("limit_price", "", "required"),
    ("limit_price", "1e999999", "number"),
]


@pytest.mark.parametrize(("field", "value", "rule"), BAD_INPUT)
async def test_bad_input_sends_nothing_and_says_why(make_desk, field, value, rule) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-quantity", Input).value = "0.01"
        ticket.query_one(f"#t-{field}", Input).value = value
        await pilot.press("f9")
        await desk.settle(pilot)
        assert desk.session.engine.oms.orders == {}
        assert ticket.sent_count == 0
        problems = ticket.query_one("#t-problems", TextBlock).text.plain
        label = {"instrument": "Symbol", "quantity": "Qty", "limit_price": "Price"}[field]
        assert f"{label}: " in problems  # under the label on the row
        assert f"[{rule}]" in problems
        assert ticket.query_one(f"#row-{field}").has_class("-invalid")
        assert "NOT SENT" in ticket.query_one("#t-status", TextBlock).text.plain
        await desk.session.close()


async def test_bad_choices_send_nothing(make_desk) -> None:
    """A market order cannot be GTC; a halted desk refuses every order."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-quantity", Input).value = "0.01"
        ticket.query_one("#t-order_type").value = "MARKET"  # type: ignore[attr-defined]
        await pilot.pause()  # (switching to MARKET picks IOC by itself)
        tif = ticket.query_one("#t-tif", Choice)
        assert tif.value == "IOC"
        assert "GTC" not in tif.options  # not offered for MARKET at this broker
        tif.options = [*tif.options, "GTC"]  # forced, as a stale ticket could
        tif.value = "GTC"
        await pilot.pause()
        await pilot.press("f9")
        await desk.settle(pilot)
        assert "TIF: " in ticket.query_one("#t-problems", TextBlock).text.plain
        assert "[market_tif]" in ticket.query_one("#t-problems", TextBlock).text.plain
        ticket.query_one("#t-tif").value = "IOC"  # type: ignore[attr-defined]
        await desk.session.engine.kill("test")
        await desk.settle(pilot)
        await pilot.press("f9")
        await desk.settle(pilot)
        problems = ticket.query_one("#t-problems", TextBlock).text.plain
        assert problems.startswith("trading is HALTED")  # the whole order, no field
        assert "[trading_state]" in problems
        assert not ticket.query_one("#row-side").has_class("-invalid")
        assert desk.session.engine.oms.orders == {}
        await desk.session.close()


async def test_a_ticket_on_a_stale_quote_says_how_old_it_is(make_desk) -> None:
    """The Quotes pane dims a quote older than 5 s; the ticket on it said nothing, and
    its price, preview and collar check were of then. It says the quote's age under the
    preview, and no more once a quote comes."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")

        def preview() -> str:
            return ticket.query_one("#t-preview", TextBlock).text.plain

        assert "old" not in preview()
        for _ in range(12):  # no quote for 12 s: the feed is not stepped
            await desk.next_second(pilot)
        assert "quote 12s old: the market may have moved since" in preview()
        await desk.step(pilot, 1)  # a new quote
        await desk.next_second(pilot)
        assert "old" not in preview()
        await desk.session.close()


async def test_confirmation_above_the_notional_limit(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        ticket.query_one("#t-limit_price", Input).value = "3400.00"
        await type_into(pilot, "5")  # 17,000 > ui.confirm_notional 10,000
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        # The dialog says the whole order that goes out: price, TIF and where.
        said = " ".join(
            str(w.render()) for w in desk.app.screen.query("#dialog-title, #dialog-body")
        )
        assert "Send BUY 5 ETHUSDT.PAPER LIMIT @ 3,400.00 GTC?" in said
        assert "To paper/main." in said
        assert "17,000.00" in said
        await pilot.press("n")
        await desk.settle(pilot)
        assert desk.session.engine.oms.orders == {}
        desk.clock.advance(1)  # past the fire key's debounce
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press("y", "y")  # the second y answers nothing
        await desk.settle(pilot)
        assert len(desk.session.engine.oms.orders) == 1
        await desk.session.close()


async def test_cancel_all_and_kill_switch_need_confirmation(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await select_quote(desk, pilot, "BTCUSDT.PAPER")
        for price in ("63000.00", "63500.00"):
            await pilot.press("escape", "b")
            ticket = ticket_of(desk)
            ticket.query_one("#t-limit_price", Input).value = price
            ticket.query_one("#t-quantity", Input).value = "0.01"
            await pilot.press("f9")
            await desk.settle(pilot)
            desk.clock.advance(1)
        assert len(engine.oms.working()) == 2
        await pilot.press("ctrl+x")
        await pilot.pause()
        await pilot.press("escape")
        await desk.settle(pilot)
        assert len(engine.oms.working()) == 2
        await pilot.press("ctrl+x")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        assert engine.oms.working() == []

        await pilot.press("ctrl+backslash")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press("y")
        await desk.settle(pilot)
        assert engine.gate.state is TradingState.HALTED
        assert desk.app.screen.has_class("-halted")
        assert "HALTED" in str(desk.app.screen.query_one("#header").render())
        await pilot.press("ctrl+r")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        assert engine.gate.state is TradingState.ACTIVE
        assert not desk.app.screen.has_class("-halted")
        await desk.session.close()


async def test_cancel_all_from_a_ticket_field(make_desk) -> None:
    """ctrl+x, which the key bar shows as Cancel all, asks to cancel all from the
    ticket's fields too, where the field's own ctrl+x (cut) took it and nothing was
    cancelled; the field keeps its text."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-limit_price", Input).value = "63000.00"
        await pilot.press(*"0.01", "f9")
        await desk.settle(pilot)
        assert len(engine.oms.working()) == 1
        await pilot.press("escape", "b", *"0.02")
        await pilot.pause()
        quantity = ticket.query_one("#t-quantity", Input)
        assert desk.app.focused is quantity
        assert quantity.value == "0.02"
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press("y")
        await desk.settle(pilot)
        assert engine.oms.working() == []
        assert desk.app.focused is quantity
        assert quantity.value == "0.02"
        await desk.session.close()


async def test_signal_becomes_a_ticket(make_desk) -> None:
    from silvertine_tui.events import Signal, SignalEvent

    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.bus.publish(
            SignalEvent.create(
                "strategy:meanrev",
                Signal(
                    strategy="meanrev",
                    instrument="ETHUSDT.PAPER",
                    side=Side.SELL,
                    quantity=Decimal("0.25"),
                    price=Decimal("3550.00"),
                    note="2 sigma above the mean",
                ),
                ts=desk.clock.ns(),
            )
        )
        await desk.settle(pilot)
        await pilot.press("8", "enter")
        draft = ticket_of(desk).draft()
        assert (draft.instrument, draft.side, draft.quantity, draft.limit_price) == (
            "ETHUSDT.PAPER",
            Side.SELL,
            "0.25",
            "3550.00",
        )
        assert draft.tag == "signal:meanrev"
        await desk.session.close()


async def test_a_long_signal_note_is_cut_in_the_pane_and_on_its_ticket_whole_in_the_log(
    make_desk,
) -> None:
    """A note of 150 characters made the Note column too wide for any pane, and the
    column went, note and all, even zoomed. It is cut at a word in the pane and beside
    Send on the ticket made from the signal (a note of 10 KB pushed the ticket's
    problems out of the pane), and said whole in the Log pane's line of the signal."""
    from silvertine_tui.events import Signal, SignalEvent
    from silvertine_tui.ui.format import fit
    from silvertine_tui.ui.widgets.signals import NOTE_WIDTH, TICKET_TEXT_WIDTH, Signals

    note = (
        "2.4 sigma above the 20-period mean after the CPI print; exit half at the mean "
        "and the rest at 1 sigma below; skip if the spread is wider than 0.5"
    )
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.bus.publish(
            SignalEvent.create(
                "strategy:meanrev",
                Signal(
                    strategy="meanrev",
                    instrument="ETHUSDT.PAPER",
                    side=Side.SELL,
                    quantity=Decimal("0.25"),
                    price=Decimal("3550.00"),
                    note=note,
                ),
                ts=desk.clock.ns(),
            )
        )
        await desk.settle(pilot)
        await pilot.press("8", "z")  # zoomed: the whole width
        await desk.settle(pilot)
        signals = desk.app.screen.query_one(Signals)
        [key] = signals.row_keys
        shown = signals.get_cell(key, "note").plain
        assert "note" in signals.shown_columns, "the Note column was dropped"
        assert len(shown) <= NOTE_WIDTH
        assert shown.endswith(" …")
        assert note.startswith(shown.removesuffix(" …"))
        await pilot.press("z", "enter")
        await desk.settle(pilot)
        status = ticket_of(desk).query_one("#t-status", TextBlock).text.plain
        said = fit(f"signal meanrev: {note}", TICKET_TEXT_WIDTH)
        assert " ".join(status.split()) == " ".join(said.split())
        assert len(said) < len(note)
        [line] = [line for line in desk.app.model.log if line.kind == "signal"]
        assert line.text.endswith(f": {note}")
        await desk.session.close()


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_a_ticket_opened_from_a_zoomed_pane_is_in_sight(make_desk, size) -> None:
    """Zoomed on the quotes, `b` opened the ticket out of sight with the keys in its
    quantity: the next pane key became the quantity and Enter sent it. The zoom ends
    when another pane is shown, so the ticket is on the screen before a key reaches it."""
    desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        screen = desk.app.screen
        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        await pilot.press("z")
        await desk.settle(pilot)
        assert screen.maximized is not None
        await pilot.press("b")
        await desk.settle(pilot)
        ticket = ticket_of(desk)
        assert screen.maximized is None
        assert ticket.region.area > 0
        assert ticket.has_focus_within
        assert desk.app.focused is not None
        assert desk.app.focused.region.area > 0  # the field that takes the keys is seen
        # Zooming the ticket itself and showing it again keeps it zoomed.
        screen.toggle_zoom()  # the active pane: the ticket (`z` in a field is typed)
        await desk.settle(pilot)
        assert screen.maximized is screen.query_one("#pane-ticket")
        screen.show_pane("ticket")
        assert screen.maximized is screen.query_one("#pane-ticket")
        await desk.session.close()
