"""A trader's review: the ticket's buying-power problem rounded the available balance
half-even to cents, so it said more was available than the account holds. Seen on the desk against
the fake: Balances `USDT binance 103,895.398`, ticket `available 103,895.40 USDT`.
docs/ui.md ("Numbers", Balances): a balance is never shown larger than it is.
Here: 1,000.996 USDT held; the ticket says `available 1,001.00 USDT`, and a buy
needing 1,001.00 is refused with `need 1,001.00 ... available 1,001.00`."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.engine.risk import RiskGate
from silvertine_tui.ui.orders import Draft, TicketContext, check
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config
from tests.support.ib import new_bus


async def wait_for(predicate: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_the_ticket_never_says_more_is_available_than_held() -> None:
    async with FakeBinance(symbols=DEFAULT_SYMBOLS, balances={"USDT": "1000.996"}) as fake:
        await fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        session = Session(Settings(brokers=[binance_config(fake, ["ETHUSDT"])]), bus=new_bus())
        await session.start()
        try:
            view = session.projection
            await wait_for(
                lambda: (
                    view.broker_state("binance") is ConnectionState.LIVE
                    and ("binance", "spot", "USDT") in view.balances
                ),
                "Binance live with its USDT",
            )
            # The venue's quote stream tells changes: one once subscribed.
            await fake.set_book("ETHUSDT", [("1999.5", "5")], [("2000.5", "5")])
            await wait_for(lambda: view.last_price("ETHUSDT.BINANCE") is not None, "a quote")
            assert view.balances[("binance", "spot", "USDT")].available == Decimal("1000.996")
            context = TicketContext(view, RiskGate(session.settings.risk))
            draft = Draft(
                instrument="ETHUSDT.BINANCE",
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity="0.5",
                limit_price="2000",
                tif=TimeInForce.GTC,
                account="binance/spot",
            )  # fmt: skip  (notional 1,000.00 + fee ~1.00: need 1,001.00 > 1,000.996)
            checked = check(draft, context, client_order_id="st000000000000000001")
            [said] = [str(p) for p in checked.problems if p.rule == "buying_power"]
            assert "available 1,001.00 USDT" not in said, said
        finally:
            await session.close()
