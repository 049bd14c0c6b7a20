"""A market data subscription keeps the market link as another cause has it: DEGRADED
while TWS does not answer the watchdog or is cut off from IB (1100), DISCONNECTED while
its socket is lost; LIVE once that cause is over, the new instrument quoted.

`subscribe()` set the link LIVE whatever held it down: during a TWS hang the health
pane read the (stale) quotes live until the watchdog's next round, during a 1100 until
it was over. Against the fake TWS with the real ib_async client."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from silvertine_tui.domain import ConnectionState as L
from silvertine_tui.events import QuoteEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk
from tests.support.waiting import until

ES = "ESZ6.CME"
QUICK: dict[str, Any] = {"watchdog_s": 0.05, "answer_timeout_s": 0.2}


def market(d: Desk) -> tuple[L, str]:
    link = d.broker.health_state.links["market"]
    return link.state, link.detail


async def market_said(d: Desk) -> list[str]:
    """The market link's state in every health event published, in order."""
    return [str(h.metrics["link:market"]) for h in await d.health() if "link:market" in h.metrics]


async def es_quoted(d: Desk, bid: str) -> bool:
    return any(
        isinstance(e.event, QuoteEvent)
        and e.event.payload.instrument == ES
        and e.event.payload.bid == Decimal(bid)
        for e in await d.bus.read(d.bus.layout.md("ib"))
    )


async def quoted(d: Desk, bid: str, within_s: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await es_quoted(d, bid):
        assert loop.time() < deadline, f"{ES} not quoted at {bid}"
        await asyncio.sleep(0.01)


async def test_a_subscription_during_a_tws_hang_keeps_the_market_link_degraded() -> None:
    async with FakeTws() as fake, desk(fake, **QUICK) as d:
        broker = d.broker
        await broker.instrument(ES)  # known before the hang: no request to TWS needed
        fake.ignore_next("current_time", 10_000)  # TWS hangs
        await until(lambda: market(d)[0] is L.DEGRADED, 3.0, "market DEGRADED")
        said = len(await market_said(d))
        await broker.subscribe([ES])
        state, detail = market(d)
        assert state is L.DEGRADED
        assert detail.startswith("TWS has not answered for ")
        assert "stale" in detail
        assert L.LIVE.value not in (await market_said(d))[said:]
        fake.faults.ignored["current_time"] = 0  # TWS answers again
        await until(lambda: market(d)[0] is L.LIVE, 3.0, "market LIVE again")
        await fake.set_quote("ESZ6", "6000.00", "6000.25")
        await quoted(d, "6000.00")


async def test_the_first_subscription_during_a_hang_says_the_quotes_are_stale() -> None:
    """Nothing subscribed when TWS hangs (the watchdog leaves the market link as it
    is): the subscription made during the hang says it, and the link is LIVE once TWS
    answers."""
    async with FakeTws() as fake, desk(fake, **QUICK) as d:
        broker = d.broker
        await broker.instrument(ES)
        await broker.unsubscribe(["AAPL.SMART"])
        assert market(d)[0] is L.LIVE
        fake.ignore_next("current_time", 10_000)
        await until(lambda: broker.health_state.links["api"].state is L.DEGRADED, 3.0, "api")
        await broker.subscribe([ES])
        state, detail = market(d)
        assert state is L.DEGRADED
        assert detail.startswith("TWS has not answered for ")
        assert "stale" in detail
        fake.faults.ignored["current_time"] = 0
        await until(lambda: market(d)[0] is L.LIVE, 3.0, "market LIVE again")
        assert "data: live" in market(d)[1]


async def test_a_subscription_during_1100_keeps_the_market_link_degraded() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        broker = d.broker
        await broker.instrument(ES)
        await fake.connectivity_lost()
        await until(lambda: market(d)[0] is L.DEGRADED, 3.0, "market DEGRADED")
        said = len(await market_said(d))
        await broker.subscribe([ES])
        assert market(d) == (L.DEGRADED, "no quotes while TWS is cut off (1100)")
        assert L.LIVE.value not in (await market_said(d))[said:]
        await fake.connectivity_restored()
        await until(lambda: market(d)[0] is L.LIVE, 3.0, "market LIVE after 1102")
        await fake.set_quote("ESZ6", "6001.00", "6001.25")
        await quoted(d, "6001.00")


async def test_a_subscription_while_tws_is_unreachable_keeps_it_disconnected() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        broker = d.broker
        await broker.instrument(ES)
        fake.reserve_client_id(1)  # the reconnect cannot complete meanwhile
        await fake.drop_connections()
        await until(lambda: market(d)[0] is L.DISCONNECTED, 3.0, "market DISCONNECTED")
        said = len(await market_said(d))
        await broker.subscribe([ES])
        assert market(d) == (L.DISCONNECTED, "no quotes while TWS is unreachable")
        assert L.LIVE.value not in (await market_said(d))[said:]
        fake.release_client_id(1)
        await until(lambda: broker.state is L.LIVE, 5.0, "LIVE after the reconnect")
        assert market(d)[0] is L.LIVE
        await fake.set_quote("ESZ6", "6002.00", "6002.25")
        await quoted(d, "6002.00")


async def test_a_subscription_on_a_live_desk_reads_live() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await d.broker.subscribe([ES])
        state, detail = market(d)
        assert state is L.LIVE
        assert detail == "data: live"
        await fake.set_quote("ESZ6", "6003.00", "6003.25")
        await quoted(d, "6003.00")
