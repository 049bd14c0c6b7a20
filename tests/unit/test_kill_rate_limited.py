"""The kill switch (and cancel all) at Binance inside a 429's Retry-After: the engine
does not sit the Retry-After out.

The adapter's cancels no longer wait it out (they raise `CancelHeld` at once and go
out by themselves when it ends), but the engine's own listing of the venue's open
orders, beside the sweep and again after it failed, is a read, and reads wait out the
Retry-After: the kill switch's report (the trader's toast) came only once it was over.
Now a listing is waited for no longer than a short bound after a sweep the rate limit
held, and the report says which orders still work because the venue's rate limit holds
their cancels, and when those go out.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import RateLimited
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from tests.support.binance_broker import Session, binance_session
from tests.support.waiting import until

RETRY_AFTER = 8.0
BOUND_S = 3.5  # the listing's bound (1.5 s), and room for a loaded machine


async def sync(engine: TradingEngine) -> None:
    for name, broker in engine.brokers.items():
        await replay_stream(engine, engine.bus.layout.exec(name, broker.account))


def request(s: Session, price: int) -> OrderRequest:
    return OrderRequest(
        broker=s.broker.name,
        account=s.broker.account,
        instrument="ETHUSDT.BINANCE",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("0.5"),
        limit_price=D(price),
    )


async def resting(s: Session, engine: TradingEngine) -> list[str]:
    ids = [await s.broker.place(request(s, 1980 + i)) for i in range(2)]
    await s.driver.settle()
    await sync(engine)
    assert {o.client_order_id for o in engine.oms.working()} == set(ids)
    return ids


async def throttled(s: Session) -> None:
    """A 429 on a new order: Binance's Retry-After runs when the kill switch is pulled."""
    s.fake.throttle(requests=1, retry_after=RETRY_AFTER, ban=60)
    with pytest.raises(RateLimited):
        await s.broker.place(request(s, 1970))


@pytest.mark.parametrize("how", ["kill", "cancel_all", "cancel_instrument"])
async def test_a_kill_inside_a_retry_after_reports_at_once_and_says_when(how: str) -> None:
    async with binance_session(balances={"USDT": "10000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        # The default retry delays: a held cancel is not retried (it goes by itself).
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        ids = await resting(s, engine)
        await throttled(s)
        sent = len(s.fake.requests)
        started = time.monotonic()
        if how == "kill":
            report = (await engine.kill("drill")).cancels
        elif how == "cancel_all":
            report = await engine.cancel_all()
        else:  # one instrument: each order's own cancel, held at once
            report = await engine.cancel_all(instrument="ETHUSDT.BINANCE")
        took = time.monotonic() - started
        assert took < BOUND_S, f"the {how} report waited {took:.1f} s for the Retry-After"
        assert len(s.fake.requests) == sent, "sent inside Binance's Retry-After"
        # Each order is said still working, held by the rate limit, and when it goes.
        assert sorted(report.still_working) == sorted(ids), report.summary()
        for why in report.still_working.values():
            assert "rate limit" in why, why
            assert "goes out by itself in" in why, why
        assert not report.ok
        # The owed sweep goes out once the Retry-After is over, once, and no ban.
        await until(
            lambda: all(s.fake.order_by_client_id(c).status == "CANCELED" for c in ids),
            RETRY_AFTER + 4,
            "the owed cancels",
        )
        await asyncio.sleep(0.3)
        assert s.broker.rest.usage.bans == 0
        await s.driver.settle()
        await sync(engine)
        assert engine.oms.working() == []
