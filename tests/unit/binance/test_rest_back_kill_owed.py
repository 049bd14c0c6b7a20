"""What brings a kill switch's owed cancels, and what the kill says of them.

- The Binance adapter announces its order path back (a reconnect: the session
  reconciles, then makes a kill's owed cancels) when REST answers again after a cancel
  could not reach it; not at every return of a REST link that flaps with nothing
  waiting (each announce is a reconcile, whose own asks would flap it again).
- The engine makes a kill's owed cancels only while the broker can carry a cancel: a
  reconnect announced while it is still away (a reconcile a given-up ask asked for)
  keeps them for its return, says nothing and sends nothing. Tried, each was refused
  unsent and the Log said "binance/spot is back: 1 order(s) it had left working still
  work" of a broker still away.
- A kill's cancel refused unsent because its broker was away no longer says "nothing is
  kept to send later": the kill keeps it (`kill_owed`) and makes it once the broker is
  back. At any venue (the scripted one here, as paper and TWS), not Binance alone.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.bus import MemoryBus
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
from silvertine_tui.events import LogEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import o1
from tests.support.waiting import until

QUERY = ("GET", "/api/v3/order")
NO_WAIT = (0.0, 0.0)


def announces(s: Session) -> list[int]:
    """A listener that counts the adapter's reconnect announcements."""
    heard: list[int] = []

    async def listener() -> None:
        heard.append(1)

    s.broker.on_reconnect(listener)
    return heard


async def rest_out_and_back(s: Session) -> None:
    """REST stops answering; a query meets it (the "rest" link DISCONNECTED); REST
    answers again and the adapter sees it (the link LIVE)."""
    s.fake.stop_answering_rest()
    assert await s.broker._ask_order(s.broker._orders["o1"]) is None
    assert s.broker.rest_down
    s.fake.answer_rest()
    await until(lambda: not s.broker.rest_down, 5.0, "REST seen back")


async def test_rest_back_with_nothing_waiting_announces_nothing() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await s.broker.place(o1())
        await until(lambda: s.broker._orders["o1"].status is OrderStatus.NEW, 3.0, "NEW")
        heard = announces(s)
        for _ in range(3):  # a flapping link: each return would reconcile
            await rest_out_and_back(s)
        await until(lambda: s.broker.state is ConnectionState.LIVE, 3.0, "LIVE")
        assert heard == []


async def test_rest_back_after_a_cancel_refused_for_it_announces_once() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await s.broker.place(o1())
        await until(lambda: s.broker._orders["o1"].status is OrderStatus.NEW, 3.0, "NEW")
        heard = announces(s)
        s.fake.stop_answering_rest()
        assert await s.broker._ask_order(s.broker._orders["o1"]) is None
        with pytest.raises(NotConnected, match="nothing was sent"):
            await s.broker.cancel("o1")  # refused unsent: the order path is down
        s.fake.answer_rest()
        await until(lambda: heard == [1], 5.0, "the order path announced back")
        await rest_out_and_back(s)  # nothing waits on this one
        await until(lambda: s.broker.state is ConnectionState.LIVE, 3.0, "LIVE")
        assert heard == [1]
        assert s.fake.order_by_client_id("o1").status == "NEW"


async def log_lines(s: Session) -> list[str]:
    """The Log's lines on the health stream (the engine's follow-ups among them)."""
    entries = await s.bus.read(s.bus.layout.health)
    return [e.event.payload.message for e in entries if isinstance(e.event, LogEvent)]


def _buy(broker: str, account: str, instrument: str, price: str, qty: str) -> OrderRequest:
    return OrderRequest(
        broker=broker,
        account=account,
        instrument=instrument,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(price),
    )


async def test_a_kill_s_owed_cancels_wait_while_the_broker_is_still_away() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig(), retry_delays=NO_WAIT)
        await engine.load_instruments()
        cid = await s.broker.place(_buy("binance", "spot", "ETHUSDT.BINANCE", "1900", "0.5"))
        await s.driver.settle()
        await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
        assert [v.client_order_id for v in engine.oms.working()] == [cid]

        s.fake.stop_answering_rest()
        report = await engine.kill("drill")
        assert list(report.still_working) == [cid]
        assert engine.kill_owed == {"binance": {cid}}
        assert not s.broker.sendable(cancel=True)

        # Announced while REST is still out: nothing sent, nothing said, still owed.
        sent = len(s.fake.requests)
        logged = await log_lines(s)
        assert await engine.cancel_kill_owed("binance") is None
        assert engine.kill_owed == {"binance": {cid}}
        assert len(s.fake.requests) == sent
        assert await log_lines(s) == logged

        # Back: made now, trading still HALTED.
        s.fake.answer_rest()
        await until(lambda: s.broker.sendable(cancel=True), 5.0, "REST back")
        made = await engine.cancel_kill_owed("binance")
        assert made is not None
        assert made.ok, made.summary()
        assert s.fake.order_by_client_id(cid).status == "CANCELED"
        assert engine.gate.state is TradingState.HALTED
        assert engine.kill_owed == {}


async def test_a_kill_s_cancel_refused_while_its_venue_is_away_is_said_kept() -> None:
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    engine = TradingEngine(bus, [venue], RiskConfig(), retry_delays=NO_WAIT)
    await venue.connect()
    await engine.load_instruments()
    cid = await engine.submit(_buy("scripted", "main", INSTRUMENT.key, "10.00", "1"))
    await replay_stream(engine, bus.layout.exec("scripted", "main"))
    await venue.set_state(ConnectionState.DISCONNECTED, "venue away")

    report = await engine.kill("drill")
    assert list(report.still_working) == [cid]
    said = report.summary()
    assert "nothing is kept to send later" not in said, said
    assert (
        "NotConnected: scripted/main is DISCONNECTED: nothing was sent; its "
        "cancel is kept: made once scripted/main is back, while trading is still HALTED "
        "(the health pane shows its connection)."
    ) in said, said
    assert engine.kill_owed == {"scripted": {cid}}

    # What it said happens: back, the kill's cancel is made.
    await venue.come_back()
    made = await engine.cancel_kill_owed("scripted")
    assert made is not None
    assert made.ok, made.summary()
    assert cid not in venue.venue_orders  # cancelled there
    await bus.close()
