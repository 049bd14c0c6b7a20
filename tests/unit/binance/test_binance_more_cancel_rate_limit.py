"""A 429 with a long Retry-After on a cancel: the cancel is not waited out inside the
call (three attempts, each after the Retry-After, held the kill switch's report and the
trader's screen for minutes). The caller is told at once that the cancel is held by the
rate limit and when it goes; the adapter sends it once the Retry-After is over, once,
and never before it (that earns an IP ban).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from silvertine_tui.brokers import BrokerError, RateLimited
from silvertine_tui.domain import OrderStatus
from tests.contract.test_broker_contract import statuses
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_binance_broker_faults import wait_until
from tests.unit.binance.test_binance_broker_orders import ended, once_each, req, wait_for

S = OrderStatus
CANCEL = ("DELETE", "/api/v3/order")
SWEEP = ("DELETE", "/api/v3/openOrders")
RETRY_AFTER = 3.0


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        yield session


async def resting(s: Session) -> str:
    coid = await s.broker.place(req(s, qty="0.5"))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    return coid


async def test_a_cancel_answered_429_returns_at_once_and_goes_after_retry_after(
    s: Session,
) -> None:
    coid = await resting(s)
    s.fake.throttle(requests=1, retry_after=RETRY_AFTER, ban=30)
    started = time.monotonic()
    with pytest.raises(RateLimited, match=r"goes out by itself in 3 s") as caught:
        await s.broker.cancel(coid)
    assert time.monotonic() - started < 1.5, "the cancel sat out the Retry-After"
    assert caught.value.retry_after == pytest.approx(RETRY_AFTER, abs=0.5)
    assert s.fake.order_by_client_id(coid).status == "NEW"
    assert s.fake.requests.count(CANCEL) == 1
    # Asked again meanwhile (the kill switch retries): nothing is sent.
    with pytest.raises(RateLimited, match="held"):
        await s.broker.cancel(coid)
    assert s.fake.requests.count(CANCEL) == 1
    # Once the Retry-After is over the adapter sends it, once, and no ban is earned.
    await wait_until(
        lambda: s.fake.order_by_client_id(coid).status == "CANCELED",
        "the owed cancel",
        timeout=RETRY_AFTER + 3,
    )
    assert time.monotonic() - started >= RETRY_AFTER
    events = await wait_for(s, ended(coid, S.CANCELED), "CANCELED journaled")
    await asyncio.sleep(0.3)
    assert s.fake.requests.count(CANCEL) == 2
    assert s.broker.rest.usage.bans == 0
    assert statuses(events, coid)[-1] is S.CANCELED
    once_each(await s.events(), coid)


async def test_cancel_all_held_by_a_running_retry_after_says_so_and_sweeps_later(
    s: Session,
) -> None:
    coid = await resting(s)
    other = await resting(s)
    # A 429 on a new order: Binance's Retry-After runs when the kill switch is pulled.
    s.fake.throttle(requests=1, retry_after=RETRY_AFTER, ban=30)
    with pytest.raises(RateLimited):
        await s.broker.place(req(s, qty="0.5"))
    sent = len(s.fake.requests)
    started = time.monotonic()
    with pytest.raises(BrokerError, match=r"held by Binance's rate limit.*goes out by itself"):
        await s.broker.cancel_all()
    assert time.monotonic() - started < 2.0, "cancel all sat out the Retry-After"
    assert len(s.fake.requests) == sent, "sent inside Binance's Retry-After"
    await wait_until(
        lambda: all(s.fake.order_by_client_id(c).status == "CANCELED" for c in (coid, other)),
        "the owed sweep",
        timeout=RETRY_AFTER + 3,
    )
    assert s.fake.requests.count(SWEEP) == 1
    assert s.fake.requests.count(CANCEL) == 0
    assert s.broker.rest.usage.bans == 0
    for c in (coid, other):
        events = await wait_for(s, ended(c, S.CANCELED), "CANCELED journaled")
        once_each(events, c)
