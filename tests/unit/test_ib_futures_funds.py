"""A future at IB is not a cash purchase of its notional (the trader drill on ES).

One ES contract at 6,027.50 is 301,375.00 USD of notional (multiplier 50), and IB asks
a margin for it that only IB can work out. The desk's check of an order against the
account (the ticket's copy of the rules, `ui/orders.py`, over the engine's projection)
refused it for want of 301,375 USD in cash, as if it were stock. A stock buy beyond
the cash is still refused; a future goes to IB, whose margin check decides (the fake
TWS's 201 "...MUST EXCEED THE INITIAL MARGIN"), and that refusal comes back readable.
The real session, engine and IB adapter run against the fake TWS."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

from silvertine_tui.config import RiskConfig, RiskLimits, Settings
from silvertine_tui.domain import (
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.engine import Session
from silvertine_tui.engine.commands import Failed, PlaceOrder
from silvertine_tui.engine.risk import RiskGate
from silvertine_tui.ui.orders import Draft, TicketContext, check
from tests.fakes.tws import FakeTws
from tests.support.ib import ib_config, new_bus

ACCOUNT = "DU123456"
ES = "ESZ6.CME"
AAPL = "AAPL.SMART"


@contextlib.asynccontextmanager
async def ib_desk(fake: FakeTws) -> AsyncIterator[Session]:
    """A trading session on the IB adapter, ES and AAPL listed, quotes in, IB's cash
    in the projection. The notional limit is the trader's own exposure limit (not a
    cash check: it counts a future's whole notional), raised for ES."""
    settings = Settings(
        brokers=[ib_config(fake, symbols=["AAPL", ES])],
        risk=RiskConfig(symbols={ES: RiskLimits(max_notional=D(1_000_000))}),
    )
    session = Session(settings, bus=new_bus())
    await session.start()
    try:
        await fake.set_quote("ESZ6", "6027.25", "6027.50")
        await fake.set_quote("AAPL", "150.00", "150.05")
        view = session.projection
        await wait_for(
            lambda: (
                view.broker_state("ib") is ConnectionState.LIVE
                and view.last_price(ES) is not None
                and view.last_price(AAPL) is not None
                and ("ib", ACCOUNT, "USD") in view.balances
            ),
            "IB live, its quotes and its cash",
        )
        yield session
    finally:
        await session.close()


async def wait_for(predicate: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def ticket_check(session: Session, instrument: str, qty: str, price: str) -> Any:
    context = TicketContext(session.projection, RiskGate(session.settings.risk))
    draft = Draft(
        instrument=instrument,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=qty,
        limit_price=price,
        tif=TimeInForce.DAY,
        account=f"ib/{ACCOUNT}",
    )
    return check(draft, context, client_order_id="st000000000000000001")


def limit_buy(instrument: str, qty: str, price: str) -> OrderRequest:
    return OrderRequest(
        broker="ib",
        account=ACCOUNT,
        instrument=instrument,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(price),
        tif=TimeInForce.DAY,
    )


async def test_a_future_is_not_refused_for_want_of_its_notional_in_cash_a_stock_still_is() -> None:
    async with FakeTws(cash={"USD": "20000"}, check_funds=True) as fake, ib_desk(fake) as session:
        assert session.projection.balances[("ib", ACCOUNT, "USD")].available == 20_000

        future = ticket_check(session, ES, "1", "6027.50")
        assert [str(p) for p in future.problems] == []
        assert future.ok
        assert future.preview is not None
        assert future.preview.notional == D("301375.00")  # the multiplier counts
        assert future.preview.margin_by == "ib"
        assert future.preview.text().endswith("pos 0->1 margin: checked by ib")

        stock = ticket_check(session, AAPL, "200", "150.05")
        assert [p.rule for p in stock.problems] == ["buying_power"]
        assert str(stock.problems[0]) == (
            "Qty: need 30,040.01 USD (notional 30,010.00 + fee ~30.01), available "
            "20,000.00 USD: at most 133 at limit price [buying_power]"
        )

        # The engine's gate has no cash rule either: the future goes to IB, whose margin
        # check refuses it, and the refusal is said as IB said it.
        gate = RiskGate(session.settings.risk)
        assert gate.check(limit_buy(ES, "1", "6027.50"), session.engine) == []
        outcome = await session.command_gateway().send(
            PlaceOrder(request=limit_buy(ES, "1", "6027.50"))
        )
        assert isinstance(outcome, Failed), outcome
        assert outcome.error_kind == "InsufficientFunds"
        assert outcome.error.startswith("insufficient funds or margin at IB (201: ")
        assert "MUST EXCEED THE INITIAL MARGIN [301375.00 USD]" in outcome.error
        assert outcome.error.endswith("; reduce the size")
        [(_, _, code, _)] = fake.rejected
        assert code == 201
        oms = session.engine.oms
        await wait_for(
            lambda: [v.order.status for v in oms.orders.values()] == [OrderStatus.REJECTED],
            "the order REJECTED in the journal",
        )
