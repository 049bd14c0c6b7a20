"""The same order sent twice by a second press: after F9 the ticket keeps its fields
(the preview says `F9 again: ...`), and `enter` in a field also sends. A trader who
pressed enter after F9 (to leave the field, or from another desk's habit of confirming
with enter) sent a second order at once; the drive that found it bought 0.2 BTC for
0.1. Now a send from an unchanged ticket within `ui.repeat_confirm_s` (10 s) of its
last order asks "Send ... again?" first, its focus on Cancel (enter answers no)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from silvertine_tui.config import IBBrokerConfig, Settings
from silvertine_tui.domain import Book, BookLevel, ConnectionState, OrderStatus
from silvertine_tui.events import OrderRequestEvent
from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.fakes.tws import FakeTws
from tests.support.ib import FAST

from .conftest import Desk, make_settings, until
from .test_trading_keys import open_buy_ticket, open_market_buy_ticket, type_into

PRICE = "64,000.00"
ORDER = f"BUY 0.01 BTCUSDT.PAPER LIMIT @ {PRICE} GTC"


async def requests_at(desk: Desk, broker: str, account: str) -> list[OrderRequestEvent]:
    bus = desk.session.bus
    entries = await bus.read(bus.layout.exec(broker, account))
    return [e.event for e in entries if isinstance(e.event, OrderRequestEvent)]


async def requests(desk: Desk) -> list[OrderRequestEvent]:
    return await requests_at(desk, "paper", "main")


async def resting_bid(desk: Desk, pilot) -> Ticket:
    """A ticket for a BTC bid below the market, sent once (F9): the first order."""
    await desk.start(pilot)
    await desk.step(pilot, 1)
    ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
    ticket.query_one("#t-limit_price").value = PRICE  # type: ignore[attr-defined]
    await type_into(pilot, "0.01")
    await pilot.press("f9")
    await desk.settle(pilot)
    assert len(await requests(desk)) == 1
    return ticket


def status(ticket: Ticket) -> str:
    return ticket.query_one("#t-status", TextBlock).text.plain


async def test_enter_after_f9_asks_before_sending_the_same_order_again(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        ticket = await resting_bid(desk, pilot)
        [first] = await requests(desk)
        desk.clock.advance(1.0)  # past the fire key's debounce
        await pilot.press("enter")  # the cursor is still in the quantity field
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.title_text == f"Send {ORDER} again?"
        assert dialog.body.startswith(
            "To paper/main. The same order went 1s ago as "
            f"{short_id(first.payload.client_order_id)}: this is a second order.\n"
        )
        assert len(await requests(desk)) == 1  # nothing went while it asks
        await pilot.press("enter")  # enter again: on Cancel
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert len(await requests(desk)) == 1
        assert status(ticket) == "not sent: cancelled"
        # Asked again and answered yes: a second order, with its own id.
        desk.clock.advance(1.0)
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press("y")
        await desk.settle(pilot)
        first, second = await requests(desk)
        assert first.payload.client_order_id != second.payload.client_order_id
        assert first.payload.model_dump(exclude={"client_order_id"}) == second.payload.model_dump(
            exclude={"client_order_id"}
        )
        assert status(ticket).startswith(f"sent {short_id(second.payload.client_order_id)}")
        await desk.session.close()


async def test_a_changed_ticket_or_a_later_press_sends_without_asking(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        ticket = await resting_bid(desk, pilot)
        # Another quantity: another order, sent at once.
        desk.clock.advance(1.0)
        await pilot.press(*["backspace"] * 4, *"0.02", "f9")  # typed over the quantity
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert [r.payload.quantity for r in await requests(desk)] == [
            Decimal("0.01"),
            Decimal("0.02"),
        ]
        # The same again 10 s later: a trader working an order in clips.
        desk.clock.advance(10.0)
        await pilot.press("f9")
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert len(await requests(desk)) == 3
        assert ticket.sent_count == 3
        await desk.session.close()


async def test_over_the_notional_limit_one_dialog_says_both(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings(confirm_notional="500"))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket = desk.app.screen.query_one(Ticket)
        ticket.query_one("#t-limit_price").value = PRICE  # type: ignore[attr-defined]
        await type_into(pilot, "0.01")
        await pilot.press("f9")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.title_text == f"Send {ORDER}?"  # the first: only the notional
        await pilot.press("y")
        await desk.settle(pilot)
        desk.clock.advance(1.0)
        await pilot.press("f9")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.title_text == f"Send {ORDER} again?"
        assert (
            "this is a second order. Notional 640.00 is above the confirmation limit 500.00."
            in (dialog.body)
        )
        await pilot.press("n")
        await desk.settle(pilot)
        assert len(await requests(desk)) == 1
        await desk.session.close()


async def test_switched_off_it_never_asks(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings(repeat_confirm_s=0))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await resting_bid(desk, pilot)
        desk.clock.advance(1.0)
        await pilot.press("enter")
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert len(await requests(desk)) == 2
        await desk.session.close()


async def test_an_order_without_answer_asks_whatever_its_age(make_desk) -> None:
    """TWS never answered the first (lost on the way): while the desk does not know
    the order at the venue, F9 asks however long ago it went, and says it may be
    working. The real ib_async client against the fake TWS."""
    async with FakeTws() as fake:
        ib = IBBrokerConfig(
            name="ib", account=fake.account, port=fake.port, symbols=["AAPL"], client_id=7,
            **{**FAST, "order_timeout_s": 0.5},
        )  # fmt: skip
        paper = make_settings().brokers[0]
        desk: Desk = make_desk(settings=Settings(brokers=[paper, ib]))
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            model = desk.app.model
            await until(pilot, "IB LIVE", lambda: "broker:ib/DU123456" in model.health
                        and model.health["broker:ib/DU123456"].state
                        is ConnectionState.LIVE)  # fmt: skip
            await fake.set_quote("AAPL", "150.00", "150.05")
            await until(pilot, "the IB quote", lambda: "AAPL.SMART" in model.quotes)
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
            ticket.query_one("#t-limit_price").value = "149.50"  # type: ignore[attr-defined]
            await type_into(pilot, "10")
            fake.ignore_next("place_order")
            await pilot.press("f9")
            await until(pilot, "NO ANSWER", lambda: status(ticket).startswith("NO ANSWER"))
            await desk.settle(pilot)
            [sent] = [r.payload for r in await requests_at(desk, "ib", fake.account)]
            view = desk.session.engine.oms.get(sent.client_order_id)
            assert view is not None
            assert view.order.status is OrderStatus.PENDING_NEW, view.order.status
            desk.clock.advance(60.0)  # far beyond the repeat window
            await pilot.press("f9")
            await pilot.pause()
            dialog = desk.app.screen
            assert isinstance(dialog, ConfirmScreen)
            assert "with no answer yet (it may be working): this is a second order." in (
                dialog.body
            )
            await pilot.press("n")
            await desk.settle(pilot)
            assert len(fake.orders) == 0
            assert len(await requests_at(desk, "ib", fake.account)) == 1
        await desk.session.close()


async def test_a_notional_that_crosses_the_limit_while_asked_is_asked_of_next(
    make_desk,
) -> None:
    """A market buy just under `confirm_notional`, sent, then F9 again: the dialog asks
    of the repeat only. The market moves up while it is open and the order's notional
    crosses the limit: after `y` the notional is asked of before anything is sent."""
    desk: Desk = make_desk(settings=make_settings(confirm_notional="1000"))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await open_market_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ask = desk.app.model.quotes["BTCUSDT.PAPER"].quote.ask
        assert ask is not None
        # The most lots under the limit at this ask: a tick up can take it over.
        qty = (Decimal(1000) / ask).quantize(Decimal("0.00001"), rounding=ROUND_DOWN)
        assert qty * ask <= 1000
        await type_into(pilot, f"{qty:f}")
        await pilot.press("f9")
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert len(await requests(desk)) == 1
        desk.clock.advance(1.0)
        await pilot.press("f9")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "confirmation limit" not in dialog.body  # the repeat only
        # The market moves up 0.2% while the dialog is open.
        up = ask * Decimal("1.002")
        await desk.broker.on_market_data(
            Book(
                instrument="BTCUSDT.PAPER",
                bids=(BookLevel(price=(up - 5).quantize(Decimal("0.01")), size=Decimal(1)),),
                asks=(BookLevel(price=up.quantize(Decimal("0.01")), size=Decimal(1)),),
            )
        )
        await desk.settle(pilot)
        moved = desk.app.model.quotes["BTCUSDT.PAPER"].quote.ask
        assert moved is not None
        assert qty * moved > 1000
        await pilot.press("y")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, ConfirmScreen), "sent over the limit unasked"
        assert dialog.title_text.startswith(f"Send BUY {qty:f} BTCUSDT.PAPER MARKET")
        assert "is above the confirmation limit 1,000.00." in dialog.body
        assert len(await requests(desk)) == 1
        await pilot.press("y")
        await desk.settle(pilot)
        assert len(await requests(desk)) == 2
        await desk.session.close()
