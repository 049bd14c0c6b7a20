"""The paper desk's money, as the trader's review drove it (short selling on, seed 7):

- a short's proceeds read as free cash in Balances and the ticket passed a buy the
  venue refused (`need 85,085.00 USDT, available 67,469.13`): Available is now what
  the venue lets a buy spend, the ticket judges against it, and a short can still be
  bought back (covering gives back what the short holds back);
- with `fees.currency: base` the Positions pane showed 2.5 ETH where the venue held
  2.4975, and the close it prefilled was refused;
- a reduce-only close left working after another order flattened the position stayed
  working, locking 1,911.91 USD: now cancelled at once, and the Log says it was
  reduce-only (its SEND line) and why it ended.
"""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Input

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.domain.money import money_text
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.event_log import EventLog
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk, make_settings, market_buy
from .test_trading_keys import cell, open_buy_ticket, type_into

BTC, ETH, AAPL = "BTCUSDT.PAPER", "ETHUSDT.PAPER", "AAPL.PAPER"


def market_sell(coid: str, instrument: str, quantity: str) -> OrderRequest:
    return market_buy(coid, instrument, quantity).model_copy(update={"side": Side.SELL})


def balance_cell(balances: Balances, row: str, column: str) -> str:
    return balances.get_cell(row, column).plain


def problems(ticket: Ticket) -> list[str]:
    return [str(p) for p in ticket.run_check().problems]


async def test_a_short_s_proceeds_are_not_available_to_the_ticket(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings(paper={"checks": {"short_selling": True}}))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        # Short 1.2 BTC (about 78,000 USDT): its proceeds and margin are held back.
        await engine.submit(market_sell("st000000000000000701", BTC, "1.2"))
        await desk.settle(pilot)
        assert engine.position("paper", "main", BTC) == Decimal("-1.2")
        usdt = desk.session.projection.balances[("paper", "main", "USDT")]
        venue = desk.broker.venue.account
        assert usdt.available == venue.buying_power("USDT")
        assert usdt.available < usdt.total - usdt.locked
        balances = desk.app.screen.query_one(Balances)
        assert balance_cell(balances, "paper/main/USDT", "available") == money_text(usdt.available)
        # A buy beyond it is refused at the ticket, naming the venue's figure.
        ticket = await open_buy_ticket(desk, pilot, ETH)
        await type_into(pilot, "25")
        ticket.query_one("#t-limit_price", Input).value = "3400"
        await pilot.pause()
        said = problems(ticket)
        assert len(said) == 1, said
        assert "[buying_power]" in said[0]
        assert f"available {money_text(usdt.available)} USDT" in said[0]  # as held
        orders = len(engine.oms.orders)
        ticket.action_fire()
        await desk.settle(pilot)
        assert len(engine.oms.orders) == orders  # nothing went to the venue to be refused
        # Buying the short back is not judged against what the short holds back: the
        # close of all 1.2 (more than available) passes and the venue takes it.
        await pilot.press("escape", "4", "x")
        await desk.settle(pilot)
        draft = ticket.draft()
        assert (draft.side, draft.quantity, draft.reduce_only) == (Side.BUY, "1.2", True)
        checked = ticket.run_check()
        assert checked.preview is not None
        assert checked.preview.notional > usdt.available
        assert [str(p) for p in checked.problems] == []
        ticket.action_fire()
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)  # (above ui.confirm_notional)
        await pilot.press("y")
        await desk.settle(pilot)
        [sent] = [v.order for v in engine.oms.orders.values() if v.order.request.side is Side.BUY]
        # Taken (a limit at the ask: it takes the ask's size and rests for the rest).
        assert sent.status in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED), sent.status
        assert engine.position("paper", "main", BTC) > Decimal("-1.2")
        await desk.session.close()


async def test_a_base_fee_shows_in_the_position_and_its_close(make_desk) -> None:
    settings = make_settings(
        paper={"checks": {"short_selling": True}, "fees": {"currency": "base"}}
    )
    desk: Desk = make_desk(settings=settings)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000711", ETH, "2.5"))
        await desk.settle(pilot)
        positions = desk.app.screen.query_one(Positions)
        key = f"paper/main/{ETH}"
        assert cell(positions, key, "qty") == "2.4975"
        assert [p.quantity for p in await desk.broker.positions()] == [Decimal("2.4975")]
        await pilot.press("4", "x")
        await desk.settle(pilot)
        ticket = desk.app.screen.query_one(Ticket)
        draft = ticket.draft()
        assert (draft.side, draft.quantity, draft.reduce_only) == (Side.SELL, "2.4975", True)
        ticket.action_fire()
        await desk.settle(pilot)
        assert engine.position("paper", "main", ETH) == 0
        assert [p.quantity for p in await desk.broker.positions()] in ([], [Decimal(0)])
        assert engine.anomalies.total == 0
        await desk.session.close()


async def test_a_close_another_order_flattened_is_cancelled_and_says_why(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings(paper={"checks": {"short_selling": True}}))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000721", AAPL, "10"))
        await desk.settle(pilot)
        close = OrderRequest(
            client_order_id="st000000000000000722",
            broker="paper",
            account="main",
            instrument=AAPL,
            side=Side.SELL,
            order_type=OrderType.LIMIT,
            quantity=Decimal(10),
            limit_price=Decimal("191.00"),
            tif=TimeInForce.GTC,
            reduce_only=True,
        )
        await engine.submit(close)
        await desk.settle(pilot)
        await engine.submit(market_sell("st000000000000000723", AAPL, "10"))
        await desk.settle(pilot)
        view = engine.oms.get(close.client_order_id)
        assert view is not None
        assert view.order.status is OrderStatus.CANCELED
        usd = desk.session.projection.balances[("paper", "main", "USD")]
        assert usd.locked == 0
        assert usd.available == usd.total
        balances = desk.app.screen.query_one(Balances)
        assert balance_cell(balances, "paper/main/USD", "locked") == "0.00"
        lines = [line.text for line in desk.app.screen.query_one(EventLog).lines]
        assert "SEND SELL 10 AAPL.PAPER LIMIT @ 191.00 GTC reduce-only (…0722)" in lines, lines
        ended = [line for line in lines if line.startswith("CANCELED") and "(…0722)" in line]
        assert ended == [
            "CANCELED SELL 10 AAPL.PAPER @ 191.00 (…0722) - reduce-only: the position is "
            "closed, nothing is left to reduce"
        ], ended
        await desk.session.close()
