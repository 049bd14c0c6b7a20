"""A kill switch's cancels owed while Binance's REST was out are made once the order
path is really back, even when REST drops again right after it came back: the real
session, python-binance and the wire-level fake, on a real Redis.

The adapter announces the order path back once (`_order_path_back`: the session
reconciles, then `TradingEngine.cancel_kill_owed`), and clears what it owed before the
announce. REST dropping again before the engine reached the cancels (a flap, or the
announced reconcile's own 503) left the engine keeping them "not sendable" with a log
line only, and nothing announced again once REST was back for good: both orders worked
at Binance, trading HALTED, the kill's report having said "its cancel is kept: made
once binance/main is back". Now the engine, keeping cancels a broker cannot carry yet,
makes them itself once that broker can (`_kill_owed_when_sendable`), with no reconcile:
a REST link that flaps with nothing owed still announces nothing.

Also: a kill pulled while `cancel_kill_owed` waits on its cancels adds to what is owed;
the follow-up's leftovers no longer replace it (an order the newer kill left working
was dropped, never cancelled).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TradingState,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from tests.integration.test_binance_rest_outage_cancels import BACK, Desk, desk, until
from tests.support.binance_broker import binance_session, quick_library_timings
from tests.support.desks import log_messages, logged_line
from tests.support.redis_server import RedisServer

S = OrderStatus
KEPT = "its cancel is kept: made once binance/main is back"


def reconnects_heard(d: Desk) -> list[int]:
    """Every reconnect the adapter announces from now on (each one a reconcile)."""
    heard: list[int] = []

    async def listener() -> None:
        heard.append(1)

    d.broker.on_reconnect(listener)
    return heard


async def killed_with_rest_out(d: Desk) -> None:
    d.fake.stop_answering_rest()
    report = await d.session.engine.kill("drill: Binance's REST out")
    assert sorted(report.still_working) == sorted([d.buy, d.sell]), report.summary()
    assert KEPT in report.summary(), report.summary()
    assert d.session.engine.kill_owed == {"binance": {d.buy, d.sell}}


async def made_once(d: Desk) -> None:
    """The kill's cancels made at Binance, trading still HALTED, said once."""
    await until(
        lambda: d.at_binance(d.buy) == d.at_binance(d.sell) == "CANCELED",
        20.0,
        "the kill's owed cancels made at Binance",
    )
    await until(
        lambda: d.status(d.buy) is S.CANCELED and d.status(d.sell) is S.CANCELED,
        10.0,
        "both CANCELED on the desk",
    )
    assert d.session.engine.gate.state is TradingState.HALTED
    assert d.session.engine.kill_owed == {}
    line = await logged_line(d.session, BACK)
    assert line == f"{BACK}: cancelled the 2 order(s) it had left working.", line
    assert [m for m in await log_messages(d.session) if BACK in m] == [line]


@pytest.mark.redis
async def test_a_flap_right_after_rest_returns_does_not_lose_the_kill_s_cancels(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with desk(redis_server, key_prefix) as d:
        await killed_with_rest_out(d)
        b = d.broker
        d.fake.answer_rest()
        await until(lambda: b._back_task is not None, 10.0, "the order path announced back")
        # REST drops again before the announce's reconcile reaches the cancels.
        d.fake.stop_answering_rest()
        back = b._back_task
        assert back is not None
        await until(back.done, 15.0, "the announce over")
        assert d.at_binance(d.buy) == d.at_binance(d.sell) == "NEW"
        assert d.session.engine.kill_owed == {"binance": {d.buy, d.sell}}
        # REST back for good: nothing announces it again (nothing the adapter owes),
        # and the kill's cancels are made all the same.
        d.fake.answer_rest()
        await until(lambda: b.state is ConnectionState.LIVE, 10.0, "binance LIVE")
        await made_once(d)


@pytest.mark.redis
async def test_the_announced_reconcile_s_own_503_does_not_lose_the_kill_s_cancels(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The flap the adapter's docstring names: a request answering 503 -1007 (the
    reconcile's listing of open orders), the next call answering."""
    async with desk(redis_server, key_prefix) as d:
        await killed_with_rest_out(d)
        b = d.broker
        d.fake.fail_next_requests(3, path="/api/v3/openOrders", after_processing=False)
        d.fake.answer_rest()
        await until(
            lambda: b._back_task is not None and b._back_task.done(), 15.0, "the announce over"
        )
        await made_once(d)


@pytest.mark.redis
async def test_a_flapping_link_with_nothing_owed_still_announces_nothing(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """After the kill's cancels are made, REST out and back twice more: no reconcile."""
    async with desk(redis_server, key_prefix) as d:
        await killed_with_rest_out(d)
        d.fake.answer_rest()
        await made_once(d)
        heard = reconnects_heard(d)
        for _ in range(2):
            d.fake.stop_answering_rest()
            assert await d.broker._ask_order(d.broker._orders[d.buy]) is None
            assert d.broker.rest_down
            d.fake.answer_rest()
            await until(lambda: not d.broker.rest_down, 10.0, "REST seen back")
        await asyncio.sleep(2.0)  # what an engine retry or an announce would have done
        assert heard == []
        assert d.session.engine.kill_owed == {}


def _buy(price: str) -> OrderRequest:
    return OrderRequest(
        broker="binance",
        account="spot",
        instrument="ETHUSDT.BINANCE",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.5"),
        limit_price=Decimal(price),
    )


async def test_a_kill_pulled_while_owed_cancels_go_adds_to_what_is_owed() -> None:
    """`cancel_kill_owed` held the owed orders while its cancels went; a kill pulled
    then owed the orders it left working, and the follow-up's leftovers were written
    over them: an order only the newer kill owed was never cancelled."""
    with quick_library_timings():
        async with binance_session(balances={"USDT": "100000"}) as s:
            await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
            engine = TradingEngine(s.bus, [s.broker], RiskConfig(), retry_delays=(0.0, 0.0))
            await engine.load_instruments()
            stream = s.bus.layout.exec("binance", "spot")
            first = await s.broker.place(_buy("1900"))
            await s.driver.settle()
            await replay_stream(engine, stream)
            # Sent before the kill, read back by the engine only after it.
            second = await s.broker.place(_buy("1910"))
            await s.driver.settle()

            s.fake.stop_answering_rest()
            report = await engine.kill("drill")
            assert list(report.still_working) == [first], report.summary()
            assert engine.kill_owed == {"binance": {first}}
            await replay_stream(engine, stream)
            assert not engine.oms.orders[second].order.status.is_terminal

            s.fake.answer_rest()
            await until(lambda: s.broker.sendable(cancel=True), 5.0, "REST back")
            await until(
                lambda: (
                    s.broker._orders[first].status is S.NEW
                    and s.broker._orders[second].status is S.NEW
                ),
                5.0,
                "both shown working as Binance holds them",
            )
            await replay_stream(engine, stream)

            # The follow-up's cancel of `first` is refused (-2011, the order left
            # working) and the open orders it then lists answer late; a kill pulled
            # meanwhile, REST cut by then, leaves both orders working.
            s.fake.refuse_next_cancel()
            s.fake.slow_replies("GET", "/api/v3/openOrders", 2.0)
            sent = len(s.fake.requests)
            follow = asyncio.create_task(engine.cancel_kill_owed("binance"))
            await until(
                lambda: ("GET", "/api/v3/openOrders") in s.fake.requests[sent:],
                5.0,
                "the follow-up listing the open orders",
            )
            s.fake.stop_answering_rest()
            again = await engine.kill("drill, again")
            assert sorted(again.still_working) == sorted([first, second]), again.summary()
            assert not follow.done()  # (the newer kill owed its orders meanwhile)
            followed = await follow
            assert followed is not None
            assert list(followed.still_working) == [first], followed.summary()
            assert engine.kill_owed == {"binance": {first, second}}

            # Once Binance can carry them, both go, trading still HALTED.
            s.fake.slow_replies("GET", "/api/v3/openOrders", None)
            s.fake.answer_rest()
            await until(
                lambda: (
                    s.fake.order_by_client_id(first).status
                    == s.fake.order_by_client_id(second).status
                    == "CANCELED"
                ),
                15.0,
                "both cancelled at Binance",
            )
            assert engine.gate.state is TradingState.HALTED
