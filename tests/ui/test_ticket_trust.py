"""The ticket sends what it shows: a new ticket starts clean, typing replaces a
prefilled value, ctrl+u clears everything, desk keys never land in a number field,
the pre-send check knows the cash, and every send attempt has its own order id."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Input

from silvertine_tui.config import Settings
from silvertine_tui.domain import Capabilities, OrderStatus, OrderType, Quote, Side, TimeInForce
from silvertine_tui.events import QuoteEvent, Signal, SignalEvent
from silvertine_tui.ui.format import num, short_id
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import limit_buy, make_settings, market_buy
from .test_trading_keys import (
    open_buy_ticket,
    open_market_buy_ticket,
    select_quote,
    ticket_of,
    type_into,
)

# A venue without take-profit orders (as IB has none).
NO_TAKE_PROFIT = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT}),
    tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
    market_tifs=frozenset({TimeInForce.IOC, TimeInForce.FOK}),
)


def field(ticket: Ticket, name: str) -> Input:
    return ticket.query_one(f"#t-{name}", Input)


async def test_a_new_ticket_never_inherits_the_last_quantity(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await type_into(pilot, "0.01")
        assert ticket.draft().quantity == "0.01"
        # The trader leaves the field and opens a ticket on another quote.
        await pilot.press("escape")
        ticket = await open_buy_ticket(desk, pilot, "AAPL.PAPER")
        draft = ticket.draft()
        assert draft.instrument == "AAPL.PAPER"
        assert draft.quantity == ""
        assert desk.app.focused is field(ticket, "quantity")
        await type_into(pilot, "0.5")
        assert ticket.draft().quantity == "0.5"  # not 0.010.5
        await desk.session.close()


async def test_a_new_ticket_resets_type_tif_and_stop(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        ticket.query_one("#t-tif").value = "DAY"  # type: ignore[attr-defined]
        await pilot.pause()
        assert ticket.draft().tif is TimeInForce.DAY
        await pilot.press("escape")
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        draft = ticket.draft()
        assert (draft.order_type, draft.tif, draft.stop_price, draft.tag) == (
            OrderType.LIMIT,
            TimeInForce.GTC,
            "",
            "",
        )
        await desk.session.close()


async def test_typing_into_a_prefilled_price_replaces_it(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        price = field(ticket, "limit_price")
        prefilled = price.value
        assert prefilled
        price.focus()
        await pilot.pause()
        await pilot.press("backspace")  # never a digit from the middle
        assert price.value == ""
        await type_into(pilot, "64000")
        assert price.value == "64000"
        # A second prefill while the field has the keyboard: replaced again.
        await pilot.press("escape")
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        price = field(ticket, "limit_price")
        price.focus()
        await pilot.pause()
        await type_into(pilot, "7")
        assert price.value == "7"
        await desk.session.close()


async def test_prefill_puts_the_cursor_at_the_end_even_in_a_focused_field(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        price = field(ticket, "limit_price")
        price.focus()
        await pilot.pause()
        await pilot.press("home", "right", "right", "right")
        # A palette or signal prefill arrives while the cursor sits inside the number.
        ticket.prefill(instrument="BTCUSDT.PAPER", side=Side.BUY, price=Decimal("65000.50"))
        await pilot.pause()
        await pilot.press("backspace")
        assert price.value in ("", "65000.5")  # whole value replaced, or the last digit
        assert "9" not in price.value
        await desk.session.close()


async def test_ctrl_u_clears_the_whole_ticket_from_any_field(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await type_into(pilot, "1.5")
        field(ticket, "limit_price").focus()
        await pilot.pause()
        await pilot.press("ctrl+u")
        draft = ticket.draft()
        assert (draft.instrument, draft.quantity, draft.limit_price, draft.stop_price) == (
            "",
            "",
            "",
            "",
        )
        assert (draft.side, draft.order_type, draft.tif) == (
            Side.BUY,
            OrderType.LIMIT,
            TimeInForce.GTC,
        )
        assert desk.app.focused is field(ticket, "instrument")
        await desk.session.close()


async def test_desk_keys_never_land_in_a_number_field(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        qty = field(ticket, "quantity")
        assert desk.app.focused is qty
        await pilot.press("s", "b", "x")
        assert qty.value == ""
        assert ticket.draft().side is Side.BUY  # `s` did not turn it into a sell ticket
        assert ticket.draft().instrument == "ETHUSDT.PAPER"
        # Esc first: the field lets go and the desk keys work again.
        await pilot.press("escape", "3")
        assert desk.app.screen.active == "blotter"
        assert qty.value == ""
        await desk.session.close()


async def test_the_field_with_the_keyboard_is_marked(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        pane = desk.app.screen.query_one("#pane-ticket")
        row = ticket.query_one("#row-quantity")
        assert row.has_class("-editing")
        assert str(pane.border_subtitle) == "typing in Qty - Esc leaves the field"
        field(ticket, "limit_price").focus()
        await pilot.pause()
        assert not row.has_class("-editing")
        assert ticket.query_one("#row-limit_price").has_class("-editing")
        assert "Price" in str(pane.border_subtitle)
        await pilot.press("escape")
        assert not ticket.query(".-editing")
        assert not pane.border_subtitle
        await desk.session.close()


def small_account() -> Settings:
    return make_settings(paper={"starting_cash": {"USDT": Decimal(10000), "USD": Decimal(10000)}})


async def test_an_order_beyond_the_cash_is_refused_before_sending(make_desk) -> None:
    desk = make_desk(settings=small_account())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        price = Decimal(ticket.draft().limit_price)
        # 10,000 USDT of cash; 0.2 BTC at ~64,000 is about 12,800 plus fees.
        await type_into(pilot, "0.2")
        await pilot.press("f9")
        await desk.settle(pilot)
        assert desk.session.engine.oms.orders == {}
        problems = str(ticket.query_one("#t-problems").render())
        assert "Qty:" in problems
        assert "[buying_power]" in problems
        assert "available 10,000.00 USDT" in problems
        # The largest quantity the cash covers at this price, fees included, on the lot.
        instrument = desk.session.engine.instrument("paper", "BTCUSDT.PAPER")
        assert instrument is not None
        rate = Decimal("0.001")  # the paper venue's 10 bps taker fee
        most = (Decimal(10000) / (price * (1 + rate)) / instrument.lot_size).to_integral_value(
            rounding="ROUND_FLOOR"
        ) * instrument.lot_size
        assert f"at most {most.normalize():f}" in problems
        # Within the cash it goes through.
        qty = field(ticket, "quantity")
        qty.value = f"{most:f}"
        await pilot.pause()
        assert "buying_power" not in str(ticket.query_one("#t-problems").render())
        await desk.session.close()


async def test_a_decimal_comma_is_refused_not_sent_as_thousands(make_desk) -> None:
    """`0,01` on the ticket is not 1 at the broker: refused, the field and the rule
    named, nothing sent. A price with commas as the desk prints it is that price."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        price = Decimal(ticket.draft().limit_price)
        # `0,001` and `0_01` were read as 1: a thousand times what the field showed.
        for typed in ("0,01", "0,001", "0_01"):
            field(ticket, "quantity").value = ""
            await type_into(pilot, typed)
            await desk.step(pilot, 1)  # past the double-press debounce
            await pilot.press("f9")
            await desk.settle(pilot)
            assert desk.session.engine.oms.orders == {}
            problems = str(ticket.query_one("#t-problems").render())
            what = "an underscore" if "_" in typed else "a comma"
            said = f"Qty: '{typed}' is not a number: {what} only separates thousands"
            assert said in problems
            assert "[number]" in problems
            assert "NOT SENT" in str(ticket.query_one("#t-status").render())
        # A price copied from a pane (`63,987.50`) goes as that price.
        field(ticket, "quantity").value = "0.01"
        field(ticket, "limit_price").value = num(price - 100)
        assert "," in field(ticket, "limit_price").value
        await desk.step(pilot, 1)  # past the double-press debounce
        await pilot.press("f9")
        await desk.settle(pilot)
        sent = list(desk.session.engine.oms.orders.values())
        assert [(o.order.quantity, o.order.limit_price) for o in sent] == [
            (Decimal("0.01"), price - 100)
        ]
        await desk.session.close()


async def test_the_not_sent_status_follows_the_problems_as_they_are_fixed(make_desk) -> None:
    """`NOT SENT: 1 problem` over an empty problem list reads as a ticket still
    blocked: the status counts what is left, and says when F9 would send."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        field(ticket, "limit_price").value = "63,987.5,0"
        await pilot.pause()
        await pilot.press("f9")  # no quantity, a price that is no number
        await desk.settle(pilot)

        def status() -> str:
            return str(ticket.query_one("#t-status").render())

        assert status() == "NOT SENT: 2 problems"
        field(ticket, "limit_price").value = "64,000.00"
        await pilot.pause()
        assert status() == "NOT SENT: 1 problem"
        field(ticket, "quantity").value = "0.01"
        await pilot.pause()
        assert str(ticket.query_one("#t-problems").render()).strip() == ""
        assert status() == "problems fixed: F9 to send"
        assert desk.session.engine.oms.orders == {}  # still nothing sent
        await desk.session.close()


async def test_the_symbol_completes_from_the_instruments_the_brokers_list(make_desk) -> None:
    """The brokers list their instruments as they connect, after the ticket is
    composed: `eth` then `right` is ETHUSDT.PAPER, as the help says."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await pilot.press("2")  # the ticket, on its first empty field: the symbol
        await desk.settle(pilot)
        ticket = ticket_of(desk)
        symbol = field(ticket, "instrument")
        assert desk.app.focused is symbol
        await pilot.press(*"eth")
        await desk.settle(pilot)
        assert symbol._suggestion == "ETHUSDT.PAPER"
        await pilot.press("right")
        await desk.settle(pilot)
        assert symbol.value == "ETHUSDT.PAPER"
        await desk.session.close()


async def test_a_sell_beyond_the_position_is_refused_before_sending(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        await pilot.press("s")
        ticket = ticket_of(desk)
        await type_into(pilot, "1")
        await pilot.press("f9")
        await desk.settle(pilot)
        assert desk.session.engine.oms.orders == {}
        problems = str(ticket.query_one("#t-problems").render())
        assert "sellable" in problems
        assert "position 0" in problems
        await desk.session.close()


def one_order_per_instrument() -> Settings:
    return make_settings(paper={"checks": {"max_open_orders": 1}})


async def test_after_a_venue_reject_the_next_order_has_a_new_id_and_shows(make_desk) -> None:
    desk = make_desk(settings=one_order_per_instrument())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        sent: list[str] = []
        for instrument, ticks_below in (
            ("ETHUSDT.PAPER", 20),  # rests
            ("ETHUSDT.PAPER", 21),  # the venue refuses: one order per instrument
            ("BTCUSDT.PAPER", 20),  # rests
        ):
            ticket = await open_buy_ticket(desk, pilot, instrument)
            bid = desk.app.model.quotes[instrument].quote.bid
            tick = engine.instrument("paper", instrument).tick_size
            assert bid is not None
            field(ticket, "limit_price").value = f"{bid - ticks_below * tick:f}"
            await type_into(pilot, "0.01")
            await pilot.press("f9")
            await desk.settle(pilot)
            sent.append(next(reversed(engine.oms.orders)))
            await pilot.press("escape")
        assert len(set(sent)) == 3, sent
        statuses = [engine.oms.orders[coid].order.status for coid in sent]
        assert statuses == [OrderStatus.NEW, OrderStatus.REJECTED, OrderStatus.NEW]
        blotter = desk.app.screen.query_one(Blotter)
        assert sent[0] in blotter.row_keys
        assert sent[2] in blotter.row_keys
        assert len(engine.oms.working()) == 2
        await desk.session.close()


async def test_reduce_only_does_not_lift_halted_without_asking(make_desk) -> None:
    from silvertine_tui.domain import TradingState
    from silvertine_tui.ui.screens.confirm import ConfirmScreen

    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        engine = desk.session.engine
        await engine.kill("test")
        await desk.settle(pilot)
        desk.app.action_reduce_only()
        await desk.settle(pilot)
        assert isinstance(desk.app.screen, ConfirmScreen)
        assert engine.gate.state is TradingState.HALTED
        await pilot.press("n")
        await desk.settle(pilot)
        assert engine.gate.state is TradingState.HALTED
        desk.app.action_reduce_only()
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        assert engine.gate.state is TradingState.REDUCE_ONLY
        await desk.session.close()


async def test_a_sell_counts_what_working_sells_already_hold(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        buy = market_buy("setup-buy", "ETHUSDT.PAPER", "1")
        await engine.submit(buy)
        await desk.settle(pilot)
        ask = desk.app.model.quotes["ETHUSDT.PAPER"].quote.ask
        assert ask is not None
        resting = buy.model_copy(
            update={
                "client_order_id": "setup-sell",
                "side": Side.SELL,
                "order_type": OrderType.LIMIT,
                "quantity": Decimal("0.6"),
                "limit_price": ask + 10,
                "tif": TimeInForce.GTC,
            }
        )
        await engine.submit(resting)
        await desk.settle(pilot)
        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        await pilot.press("s")
        ticket = ticket_of(desk)
        await type_into(pilot, "0.5")
        await pilot.press("f9")
        await desk.settle(pilot)
        problems = str(ticket.query_one("#t-problems").render())
        assert "[sellable]" in problems
        assert "position 1 (0.6 already in working sells)" in problems
        assert "at most 0.4" in problems
        assert len(engine.oms.orders) == 2  # nothing more was sent
        await desk.session.close()


async def test_a_quote_padded_by_the_venue_fills_the_ticket_on_the_tick(make_desk) -> None:
    """Binance writes prices with eight places (`65010.50000000`); the ticket shows the
    same number on the instrument's tick, and that is the number sent."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        padded = Quote(
            instrument="BTCUSDT.PAPER",
            bid=Decimal("65010.40000000"),
            ask=Decimal("65010.50000000"),
            bid_size=Decimal("1"),
            ask_size=Decimal("1"),
        )
        await desk.session.bus.publish(QuoteEvent.create("paper", padded))
        for _ in range(50):
            await pilot.pause(0.02)
            state = desk.app.model.quotes.get("BTCUSDT.PAPER")
            if state is not None and state.quote.ask == padded.ask:
                break
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        assert field(ticket, "limit_price").value == "65010.50"
        await desk.session.close()


async def test_after_a_send_the_ticket_says_what_went_and_what_f9_would_send_again(
    make_desk,
) -> None:
    """The status names the whole order sent (it wraps, never cut at the pane's edge),
    and the preview below it, which is about the ticket as it stands, says it is what
    F9 would send again: "pos 0.5->1" is the next order's, not the one just sent."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_market_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await type_into(pilot, "0.5")
        preview = ticket.query_one("#t-preview", TextBlock)
        assert preview.text.plain.endswith("pos 0->0.5")
        assert "again" not in preview.text.plain
        await pilot.press("f9")
        await desk.settle(pilot)
        sent = next(reversed(desk.session.engine.oms.orders))
        status = ticket.query_one("#t-status", TextBlock)
        assert status.text.plain == f"sent {short_id(sent)}: BUY 0.5 ETHUSDT.PAPER"
        lines = len(status.text.wrap(desk.app.console, status.content_size.width))
        shown = status.region.intersection(ticket.query_one("#t-actions").region)
        assert lines > 1  # it takes two lines in a pane 42 wide...
        assert shown.height >= lines  # ...and the row beside the button shows both
        assert preview.text.plain.startswith("F9 again: ")
        assert preview.text.plain.endswith("pos 0.5->1")
        # Any change to the ticket and the preview is a plain preview again.
        await type_into(pilot, "0")
        assert ticket.draft().quantity == "0.50"
        assert not preview.text.plain.startswith("F9 again")
        await pilot.press("backspace")
        assert preview.text.plain.startswith("F9 again: ")  # the same order as sent
        # A new ticket never says it.
        await pilot.press("escape")
        await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await type_into(pilot, "0.5")
        assert "again" not in preview.text.plain
        await desk.session.close()


async def test_ctrl_u_on_a_market_ticket_gives_limit_and_gtc(make_desk) -> None:
    """The reset set the TIF's default while the type was still MARKET, whose choices
    (IOC, FOK) refused GTC: the clean ticket kept IOC."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_market_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        assert ticket.draft().tif is TimeInForce.IOC
        await pilot.press("ctrl+u")
        await desk.settle(pilot)
        draft = ticket.draft()
        assert (draft.order_type, draft.tif) == (OrderType.LIMIT, TimeInForce.GTC)
        await desk.session.close()


async def test_enter_twice_on_a_position_opens_its_ticket_and_sends_nothing(make_desk) -> None:
    """Enter on a position opens its closing ticket, prefilled; a second enter at once
    (a double press, a bouncing key) sent that close unseen. It is swallowed now; the
    trader's own enter, once the ticket is seen, sends it."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000901", "ETHUSDT.PAPER", "1.5"))
        await desk.step(pilot, 2)
        await pilot.press("4", "enter", "enter")
        await desk.settle(pilot)
        assert list(engine.oms.orders) == ["st000000000000000901"]
        ticket = ticket_of(desk)
        assert (ticket.draft().side, ticket.draft().quantity) == (Side.SELL, "1.5")
        desk.clock.advance(1.0)  # the trader reads the ticket, then sends it
        await pilot.press("enter")
        await desk.settle(pilot)
        assert len(engine.oms.orders) == 2
        await desk.session.close()


async def test_enter_twice_on_a_signal_sends_nothing(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        signal = Signal(
            strategy="m",
            instrument="ETHUSDT.PAPER",
            side=Side.BUY,
            quantity=Decimal("0.25"),
            price=Decimal("3450.00"),
        )
        await desk.session.bus.publish(SignalEvent.create("strategy:m", signal, ts=desk.clock.ns()))
        await desk.settle(pilot)
        await pilot.press("8", "enter", "enter")
        await desk.settle(pilot)
        assert not desk.session.engine.oms.orders
        assert ticket_of(desk).draft().quantity == "0.25"
        await desk.session.close()


async def test_a_signal_of_a_type_the_broker_does_not_offer_is_not_sent_as_another(
    make_desk,
) -> None:
    """A TAKE_PROFIT signal on a broker without that type: the Type choice could not
    show it and kept the last ticket's MARKET (a valid market sell, F9 away, for a
    take-profit at 3600). The ticket starts from the defaults, and says the type is not
    offered until the trader chooses one; nothing is sent meanwhile."""
    desk = make_desk()
    desk.broker.capabilities = NO_TAKE_PROFIT
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await open_market_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        await type_into(pilot, "0.01")
        await pilot.press("escape")
        signal = Signal(
            strategy="brk",
            instrument="ETHUSDT.PAPER",
            side=Side.SELL,
            quantity=Decimal("0.25"),
            order_type=OrderType.TAKE_PROFIT,
            price=Decimal("3600.00"),
        )
        await desk.session.bus.publish(
            SignalEvent.create("strategy:brk", signal, ts=desk.clock.ns())
        )
        await desk.settle(pilot)
        await pilot.press("8", "enter")
        await desk.settle(pilot)
        ticket = ticket_of(desk)
        draft = ticket.draft()
        assert (draft.order_type, draft.tif) == (OrderType.LIMIT, TimeInForce.GTC)
        problems = ticket.query_one("#t-problems", TextBlock).text.plain
        assert "TAKE_PROFIT is not offered at paper" in problems
        desk.clock.advance(1.0)
        await pilot.press("f9")
        await desk.settle(pilot)
        assert not desk.session.engine.oms.orders
        assert "NOT SENT" in ticket.query_one("#t-status", TextBlock).text.plain
        await desk.session.close()


async def test_the_answer_to_a_ticket_left_is_said_apart_not_on_the_new_one(make_desk) -> None:
    """F9, then a new ticket before the venue answers (its acknowledgement takes 1.5 s
    here): the venue's refusal of the first order was shown on the new, unsent ticket
    ("REJECTED: why below" over a sell with no quantity). It is a notice naming the
    order now, and the new ticket is left as it is. F9 on the new ticket meanwhile says
    which order is on its way (it read "still sending the last order: not sent again"
    of an order that never went)."""
    slow = {"checks": {"max_open_orders": 1}, "latency": {"ack_ms": 1500, "jitter_ms": 0}}
    desk = make_desk(settings=make_settings(paper=slow))
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        bid = desk.app.model.quotes["BTCUSDT.PAPER"].quote.bid
        assert bid is not None
        resting = f"{bid - 20:f}"
        await engine.submit(limit_buy("st000000000000000901", "BTCUSDT.PAPER", "0.01", resting))
        await desk.settle(pilot)  # the venue's one order in BTCUSDT
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        field(ticket, "limit_price").value = f"{bid - 21:f}"
        await type_into(pilot, "0.01")
        await pilot.press("f9")
        await pilot.pause()
        assert ticket.sending
        sent = ticket._sent_id
        await pilot.press("escape", "s")  # a sell ticket, from the quotes
        await pilot.pause()
        assert ticket.sending  # not answered yet
        desk.clock.advance(1.0)
        await pilot.press("f9")  # the new ticket, while the first order is on its way
        status = ticket.query_one("#t-status", TextBlock).text.plain
        assert (
            status
            == f"NOT SENT: {short_id(sent)} is still on its way; F9 again once it is answered"
        )
        await desk.settle(pilot)  # the answer comes
        assert engine.oms.orders[sent].order.status is OrderStatus.REJECTED
        fresh = ticket_of(desk)
        assert (fresh.draft().instrument, fresh.draft().side) == ("BTCUSDT.PAPER", Side.SELL)
        assert fresh.draft().quantity == ""
        assert fresh.query_one("#t-problems", TextBlock).text.plain == ""
        assert fresh.query_one("#t-status", TextBlock).text.plain == ""  # answered
        [toast] = [n for n in desk.app._notifications if n.title == "Order not placed"]
        assert short_id(sent) in toast.message
        assert "BUY 0.01 BTCUSDT.PAPER" in toast.message
        await desk.session.close()
