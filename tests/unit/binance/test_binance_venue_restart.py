"""Binance's process goes away and comes back on the same address (a venue restart, or
the fake killed and started again), with the adapter built as the desk builds it from
its config (the registry: the product's own reconnect timings, not the fault tests'
shortened ones).

What the trader must see: the REST link down while REST is down (not LIVE), the health
pane's "last" counting the real age of the venue's last message, and trading again a
few seconds after the venue answers (the REST client rebuilt and the user-data stream
subscribed again with a bounded backoff), with the reconnect counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.brokers.registry import BrokerRegistry
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.domain import ConnectionState, OrderStatus, TradingState
from silvertine_tui.events import HealthEvent
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.widgets.health import BrokerLine, BusLine, HealthPane, broker_line
from tests.contract.test_broker_contract import statuses
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import (
    DEFAULT_SYMBOLS,
    BinanceDriver,
    Session,
    binance_config,
    quick_library_timings,
)
from tests.unit.binance.test_binance_broker_orders import KEY, ended, req, wait_for

LIVE = ConnectionState.LIVE
DOWN = ConnectionState.DISCONNECTED
# How long the venue stays away: long enough for a backoff that keeps growing to leave
# trading down far longer than the outage. Before the fix the pause grew to 30 s and a
# lost REST client was rebuilt only every third attempt: gone after about 2 s, rebuilt
# (in vain) at about 14 s, next at about 80 s: trading came back about a minute late.
OUTAGE_S = 20.0
# After the venue is back: the bounded backoff (at most 5 s between attempts) plus a
# connect and a catch-up, with room for a loaded 2-core CI machine.
BACK_WITHIN_S = 12.0
BUS = BusLine("memory", "memory://", True, None, 0.0, 0.0, 0, 0, 0, "")


async def wait_until(check: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll `check` until true, failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def desk_built_session() -> AsyncIterator[Session]:
    """A fake Binance, a memory bus and a `BinanceBroker` built by the registry from its
    config section, connected. Only python-binance's socket timings are shortened (the
    fake's README: its 10 s read poll dominates test time)."""
    with quick_library_timings():
        bus = MemoryBus(BusOptions(prefix=f"restart-{uuid.uuid4().hex[:8]}", block_ms=50))
        await bus.start()
        fake = FakeBinance(symbols=DEFAULT_SYMBOLS, balances={"USDT": "10000", "ETH": "2"})
        await fake.start()
        config = binance_config(fake, ["ETHUSDT"], request_timeout_s=2.0)
        broker = BrokerRegistry(discover=False).create(config, bus)
        assert isinstance(broker, BinanceBroker)
        try:
            await fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
            await broker.connect()
            assert broker.state is LIVE
            yield Session(fake, bus, broker, BinanceDriver(fake, broker, "ETHUSDT"))
        finally:
            await broker.close()
            with contextlib.suppress(Exception):
                await fake.stop()
            await bus.close()


def link(s: Session, name: str) -> ConnectionState | None:
    status = s.broker.health_state.links.get(name)
    return status.state if status is not None else None


async def pane(s: Session, now_s: float) -> tuple[str, BrokerLine]:
    """The health pane's text for this broker and its line, built from what the bus
    carries (as the desk builds it: its feed model reads the health and market-data
    streams)."""
    model = FeedModel(prefix=s.bus.layout.prefix, clock=lambda: now_s)
    for stream in (s.bus.layout.health, s.bus.layout.md(s.broker.name)):
        for entry in await s.bus.read(stream):
            model.ingest(entry)
    line = broker_line(
        s.broker.source,
        model.health.get(s.broker.component),
        DOWN,
        model.md_last_ns.get(s.broker.name),
        now_s,
    )
    return HealthPane().render_text([line], BUS, TradingState.ACTIVE).plain, line


async def newest_health(s: Session) -> HealthEvent:
    for entry in await s.bus.read_last(s.bus.layout.health, 50):
        event = entry.event
        if isinstance(event, HealthEvent) and event.payload.component == s.broker.component:
            return event
    raise AssertionError("no health event of the broker")


async def test_a_venue_restart_shows_rest_down_and_orders_go_again_within_seconds() -> None:
    async with desk_built_session() as s:
        resting = await s.broker.place(req(s, qty="0.5"))
        await wait_for(s, ended(resting, OrderStatus.NEW), "NEW")
        await s.fake.wait_for_stream("ethusdt@bookTicker")  # configured: quoted from start
        await s.fake.set_book("ETHUSDT", [("1998", "5")], [("2001", "5")])
        await wait_until(lambda: KEY in s.broker.health_state.last_message_ns, "a first quote", 5.0)

        await s.fake.stop(kill=True)
        # REST is down: the link says so (not LIVE), on the bus as in the object.
        await wait_until(lambda: link(s, "rest") is DOWN, "the rest link DISCONNECTED", 10.0)
        rest = s.broker.health_state.links["rest"]
        assert f"127.0.0.1:{s.fake.port}" in rest.detail, rest.detail
        assert "retrying" in rest.detail, rest.detail
        with pytest.raises(NotConnected):
            await s.broker.place(req(s, qty="0.1"))
        await asyncio.sleep(OUTAGE_S)  # the venue stays away (the scenario, not a wait)
        health = await newest_health(s)
        assert health.payload.metrics["link:rest"] == "DISCONNECTED"
        assert link(s, "rest") is DOWN
        text, line = await pane(s, time.time())
        assert "\n  rest DISCONNECTED" in text, text
        # "last": the venue's last message (the quote) is at least OUTAGE_S old, whatever
        # the adapter's heartbeats of every second say.
        assert line.last_age_s is not None
        assert line.last_age_s >= OUTAGE_S, text
        assert "last <1s" not in text, text
        assert "reconn 0" in text, text  # counted once the venue is back

        await s.fake.start()  # same port: the venue is back, with its orders
        await wait_until(
            lambda: s.broker.state is LIVE, "trading LIVE again after the venue", BACK_WITHIN_S
        )
        assert link(s, "rest") is LIVE
        assert link(s, "user") is LIVE
        assert s.broker.health_state.reconnects == 1
        again = await s.broker.place(req(s, qty="0.1"))
        await wait_for(s, ended(again, OrderStatus.NEW), "NEW after the restart")
        # The stream carries reports again: the order left working fills.
        await s.fake.fill(s.fake.order_by_client_id(resting).order_id)
        events = await wait_for(s, ended(resting, OrderStatus.FILLED), "FILLED")
        assert statuses(events, resting).count(OrderStatus.FILLED) == 1
        await s.broker.publish_health()
        text, _ = await pane(s, time.time())
        assert "reconn 1" in text, text
        assert "\n  rest LIVE" in text, text
