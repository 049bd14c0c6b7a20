"""A Binance stop that triggers is a triggered order on the desk (`OrderUpdate.triggered`,
`Order.triggered`, `VenueOrder.triggered`), end to end against the fake Binance (the
real python-binance client runs).

Binance says a STOP_LOSS / STOP_LOSS_LIMIT / TAKE_PROFIT / TAKE_PROFIT_LIMIT has
triggered with a second executionReport of execution type NEW (status NEW) that carries
`W`, the time it started working; its order JSON then reads `isWorking` true (before:
false, `workingTime` -1). The adapter read that report as a repeat of the first NEW and
dropped it (its status gate), and read no trigger in a listing: the desk showed a
triggered STOP_LIMIT as one still waiting, its Stop open to a change Binance refuses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from silvertine_tui.brokers.binance import BinanceBroker, translate
from silvertine_tui.brokers.binance.rest import BinanceRest
from silvertine_tui.brokers.retry import RetryPolicy
from silvertine_tui.bus import BusOptions, EventBus, create_bus
from silvertine_tui.config import BinanceBrokerConfig, RiskConfig
from silvertine_tui.domain import (
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, recover, replay_stream
from silvertine_tui.events import EventBase, OrderUpdateEvent, ReconcileKind
from tests.fakes.binance import Commission, FakeBinance, SymbolSpec
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import BinanceDriver, Session, binance_session
from tests.support.redis_server import RedisServer

D = Decimal
S = OrderStatus
ETH = "ETHUSDT"
KEY = "ETHUSDT.BINANCE"
STOPS = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def updates(events: list[EventBase], coid: str) -> list[OrderUpdate]:
    return [
        e.payload
        for e in events
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


def triggers(events: list[EventBase], coid: str) -> list[OrderUpdate]:
    return [u for u in updates(events, coid) if u.triggered]


async def journal(bus: EventBus, stream: str) -> list[EventBase]:
    entries = await bus.read(stream)
    assert all(e.ok for e in entries)
    return [e.event for e in entries]  # type: ignore[misc]


async def until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def journal_has(bus: EventBus, stream: str, check: Callable[[list[EventBase]], bool]) -> None:
    deadline = time.monotonic() + 5.0
    while not check(await journal(bus, stream)):
        if time.monotonic() > deadline:
            events = await journal(bus, stream)
            pytest.fail(f"the journal never got there: {[e.type for e in events[-8:]]}")
        await asyncio.sleep(0.01)


def stop_limit_sell(broker: BinanceBroker, coid: str) -> OrderRequest:
    """A sell STOP_LIMIT 0.5 ETH: stop 1,995, limit 1,990 (the bid, 1,989, is below its
    limit: triggered, it rests as a limit)."""
    return OrderRequest(
        client_order_id=coid,
        broker=broker.name,
        account=broker.account,
        instrument=KEY,
        side=Side.SELL,
        order_type=OrderType.STOP_LIMIT,
        quantity=D("0.5"),
        stop_price=D(1995),
        limit_price=D(1990),
    )


async def quoted(fake: FakeBinance) -> None:
    await fake.set_book(ETH, [("1989", "5")], [("2001", "5")])
    await fake.trade(ETH, "2000", "0.1")  # Binance judges stops on the last trade


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await quoted(session.fake)
        yield session


# -- the fake speaks as Binance documents it ----------------------------------------------


async def test_the_fake_says_a_stop_triggered_as_binance_does() -> None:
    """rest-api.md: `workingTime` -1 for a stop not working (a new-order RESULT, a
    query), `isWorking` false; user-data-stream.md: `W` appears when the order works.
    Triggered: a second report x=NEW X=NEW with `W`, and `isWorking` true."""
    async with (
        FakeBinance(symbols=[SymbolSpec(ETH, "ETH", "USDT")], balances={"ETH": "2"}) as fake,
        binance_client(fake) as client,
    ):
        await quoted(fake)
        placed = await client.create_order(
            symbol=ETH,
            side="SELL",
            type="STOP_LOSS_LIMIT",
            timeInForce="GTC",
            quantity="0.5",
            price="1990",
            stopPrice="1995",
            newOrderRespType="RESULT",
        )
        assert placed["workingTime"] == -1
        asked = await client.get_order(symbol=ETH, orderId=placed["orderId"])
        assert (asked["isWorking"], asked["workingTime"]) == (False, -1)

        def reports() -> list[dict[str, Any]]:
            return [
                e
                for e in fake.sent_user_events
                if e.get("e") == "executionReport" and e["i"] == placed["orderId"]
            ]

        [first] = reports()
        assert (first["x"], first["X"]) == ("NEW", "NEW")
        assert "W" not in first
        await fake.trade(ETH, "1995", "0.1")
        [_, trigger] = reports()
        assert (trigger["x"], trigger["X"], trigger["o"]) == ("NEW", "NEW", "STOP_LOSS_LIMIT")
        assert trigger["W"] > 0
        asked = await client.get_order(symbol=ETH, orderId=placed["orderId"])
        assert asked["isWorking"] is True
        assert asked["workingTime"] == trigger["W"]


# -- translate ----------------------------------------------------------------------------


def order_json(venue_type: str, *, working: bool | None, working_ms: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": ETH,
        "orderId": 7,
        "clientOrderId": "c1",
        "price": "0" if venue_type in ("STOP_LOSS", "TAKE_PROFIT", "MARKET") else "1990",
        "origQty": "0.5",
        "executedQty": "0",
        "cummulativeQuoteQty": "0",
        "status": "NEW",
        "timeInForce": "GTC",
        "type": venue_type,
        "side": "SELL",
        "stopPrice": "1995" if venue_type in STOPS else "0",
    }
    if working is not None:
        body["isWorking"] = working
    if working_ms is not None:
        body["workingTime"] = working_ms
    return body


@given(
    venue_type=st.sampled_from([*STOPS, "LIMIT", "LIMIT_MAKER"]),
    working=st.sampled_from([None, True, False]),
    working_ms=st.sampled_from([None, -1, 1_700_000_000_000]),
)
def test_a_listed_or_queried_stop_that_works_has_triggered(
    venue_type: str, working: bool | None, working_ms: int | None
) -> None:
    body = order_json(venue_type, working=working, working_ms=working_ms)
    works = working if working is not None else (working_ms is not None and working_ms >= 0)
    expected = True if works and venue_type in STOPS else None
    assert translate.venue_order(body).triggered is expected
    assert translate.reply_update(body).triggered is expected


@given(
    venue_type=st.sampled_from([*STOPS, "LIMIT", "MARKET"]),
    execution=st.sampled_from(["NEW", "TRADE", "CANCELED"]),
    working_ms=st.sampled_from([None, 1_700_000_000_000]),
)
def test_a_report_of_a_working_stop_says_triggered(
    venue_type: str, execution: str, working_ms: int | None
) -> None:
    event: dict[str, Any] = {
        "e": "executionReport",
        "s": ETH,
        "c": "c1",
        "S": "SELL",
        "o": venue_type,
        "q": "0.5",
        "x": execution,
        "X": {"NEW": "NEW", "TRADE": "PARTIALLY_FILLED", "CANCELED": "CANCELED"}[execution],
        "i": 7,
        "P": "1995",
    }
    if working_ms is not None:
        event["W"] = working_ms
    update = translate.ExecutionReport.parse(event).update()
    stop = venue_type in STOPS
    assert update.triggered is (True if stop and working_ms is not None else None)
    if stop and working_ms is not None and execution == "NEW":
        assert update.reason == "stop triggered at Binance (a trade reached 1995)"


# -- end to end ---------------------------------------------------------------------------


async def test_a_stop_limit_that_triggers_is_journaled_and_read_triggered(s: Session) -> None:
    """The trigger report (sent twice: Binance may repeat a report) is journaled once,
    as an update that says `triggered`; the desk's order reads triggered, still NEW (it
    works as a limit at 1,990); Binance's listing and a query say it too."""
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await engine.load_instruments()
    coid = await s.broker.place(stop_limit_sell(s.broker, "trg1"))
    await journal_has(s.bus, s.stream, lambda ev: S.NEW in [u.status for u in updates(ev, coid)])
    [listed] = await s.broker.open_orders()
    assert listed.triggered is None
    s.fake.duplicate_next_reports(10)
    await s.fake.trade(ETH, "1995", "0.1")
    await journal_has(s.bus, s.stream, lambda ev: bool(triggers(ev, coid)))
    await s.driver.settle()
    await asyncio.sleep(0.3)  # past the adapter's wait for an account event (0.25 s)
    await s.driver.settle()
    events = await s.events()
    [trigger] = triggers(events, coid)
    assert trigger.status is S.NEW
    assert trigger.reason == "stop triggered at Binance (a trade reached 1995)"
    assert trigger.venue_order_id == str(s.fake.order_by_client_id(coid).order_id)
    await replay_stream(engine, s.stream)
    view = engine.projection.order(coid)
    assert view is not None
    assert view.order.triggered is True
    assert view.order.status is S.NEW
    [listed] = await s.broker.open_orders()
    assert listed.triggered is True
    queried = await s.broker.query_order(coid)
    assert queried is not None
    assert queried.triggered is True


async def test_a_stop_that_triggers_while_the_user_stream_is_down_is_caught_up(
    s: Session,
) -> None:
    """Its trigger report lost with the stream: the catch-up after the reconnect reads
    the trigger in Binance's listing (`isWorking`) and journals it."""
    coid = await s.broker.place(stop_limit_sell(s.broker, "trg2"))
    await journal_has(s.bus, s.stream, lambda ev: S.NEW in [u.status for u in updates(ev, coid)])
    await s.driver.drop_connection()
    await until(lambda: not s.broker.user.subscribed, "the user stream down")
    await s.fake.trade(ETH, "1995", "0.1")
    assert s.fake.order_by_client_id(coid).working
    await s.driver.restore_connection()
    await until(
        lambda: s.broker.user.subscribed and s.broker.state is ConnectionState.LIVE,
        "the user stream back",
    )
    await journal_has(s.bus, s.stream, lambda ev: bool(triggers(ev, coid)))
    [trigger] = triggers(await s.events(), coid)
    assert trigger.status is S.NEW


async def test_the_trigger_of_the_venue_order_a_modify_replaced_is_not_the_orders(
    s: Session,
) -> None:
    """The stop triggers at Binance as a modify moves it, its trigger report reaching
    the adapter after the cancelReplace's answer: Binance cancelled that venue order
    for the replacement, a new stop that waits. The journal says no trigger (the
    replacement's stop can still change) and the order works at the new terms."""
    coid = await s.broker.place(stop_limit_sell(s.broker, "trg3"))
    await journal_has(s.bus, s.stream, lambda ev: S.NEW in [u.status for u in updates(ev, coid)])
    s.fake.reorder_next_reports(1_000)  # held until released, then sent in the order made
    await s.fake.trade(ETH, "1995", "0.1")  # the stop triggers; its report is held
    await s.broker.modify(coid, stop_price=D(1980), limit_price=D(1975))
    assert await s.fake.release_held_reports() == 3  # trigger, CANCELED (old), NEW (new)
    await s.driver.settle()
    await asyncio.sleep(0.3)  # past the adapter's wait for an account event (0.25 s)
    await s.driver.settle()
    events = await s.events()
    venue = [o for o in s.fake.exchange.orders.values() if o.client_order_id == coid]
    assert [(o.status, o.stop_price, o.working) for o in venue] == [
        ("CANCELED", D(1995), True),
        ("NEW", D(1980), False),
    ]
    last = updates(events, coid)[-1]
    assert (last.status, last.stop_price, last.limit_price) == (S.NEW, D(1980), D(1975))
    assert last.venue_order_id == str(venue[1].order_id)
    assert triggers(events, coid) == []
    [listed] = await s.broker.open_orders()
    assert listed.triggered is None


# -- a restart over a Redis journal -------------------------------------------------------


def redis_broker(fake: FakeBinance, bus: EventBus) -> BinanceBroker:
    config = BinanceBrokerConfig(
        name="binance",
        account="spot",
        api_key=SecretStr(fake.api_key),
        api_secret=SecretStr(fake.api_secret),
        testnet=True,
        rest_url=fake.api_url,
        ws_api_url=fake.ws_api_url,
        stream_url=fake.stream_url,
        symbols=[ETH],
        request_timeout_s=1.0,
    )
    rest = BinanceRest(config, retry=RetryPolicy(attempts=3, base_delay=0.02, max_delay=0.1))
    broker = BinanceBroker(config, bus, rest=rest, retry_first_s=0.05, retry_max_s=0.2)
    broker.user.subscribe_timeout_s = 1.0
    return broker


async def test_a_restart_keeps_the_trigger(redis_server: RedisServer, key_prefix: str) -> None:
    """The journal (Redis) holds the trigger: a desk started again over it reads the
    order triggered, Binance's listing agrees (the reconcile finds no difference), and
    the order then fills and ends as Binance says."""
    options = BusOptions(prefix=key_prefix, block_ms=50)
    async with FakeBinance(
        symbols=[SymbolSpec(ETH, "ETH", "USDT")],
        balances={"USDT": "10000", "ETH": "2"},
        commission=Commission(mode="quote"),
    ) as fake:
        await quoted(fake)
        bus = create_bus(redis_server.url, options)
        await bus.start()
        broker = redis_broker(fake, bus)
        stream = bus.layout.exec("binance", "spot")
        try:
            await broker.connect()
            coid = await broker.place(stop_limit_sell(broker, "trg4"))
            await journal_has(
                bus, stream, lambda ev: S.NEW in [u.status for u in updates(ev, coid)]
            )
            await fake.trade(ETH, "1995", "0.1")
            await journal_has(bus, stream, lambda ev: bool(triggers(ev, coid)))
        finally:
            await broker.close()
            await bus.close()

        bus = create_bus(redis_server.url, options)
        await bus.start()
        again = redis_broker(fake, bus)
        try:
            engine = TradingEngine(bus, [again], RiskConfig())
            await recover(engine, [("binance", "spot")])
            view = engine.projection.order(coid)
            assert view is not None
            assert view.order.triggered is True
            await again.connect()
            await engine.load_instruments()
            found = await reconcile_broker(engine, again)
            # (the 2 ETH held before the journal began is its opening position)
            assert [r.kind for r in found] == [ReconcileKind.OPENING_POSITION]
            await replay_stream(engine, stream)
            view = engine.projection.order(coid)
            assert view is not None
            assert (view.order.status, view.order.triggered) == (S.NEW, True)
            # The bid comes up to its limit: it fills there, as the limit it works as.
            driver = BinanceDriver(fake, again, ETH)
            await fake.set_book(ETH, [("1990", "5")], [("2001", "5")])
            await driver.settle()
            await journal_has(
                bus, stream, lambda ev: S.FILLED in [u.status for u in updates(ev, coid)]
            )
            await replay_stream(engine, stream)
            view = engine.projection.order(coid)
            assert view is not None
            assert (view.order.status, view.order.triggered) == (S.FILLED, True)
            assert view.order.filled_qty == D("0.5")
        finally:
            await again.close()
            await bus.close()
