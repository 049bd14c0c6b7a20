"""The catch-up's cursor (the journal's last trade id per symbol) against bad data.

A chaos drill (F5) sent the desk one executionReport TRADE with a trade id out of
Binance's range (`t` 99101, of an order the desk does not know): journaled, with an
"unknown order" anomaly, it became the symbol's last trade. The catch-up after a lost
connection, and the session's reconcile after it, asked myTrades from that id + 1:
the desk's own trade made while it was away (id 2) was never asked, never journaled.
The order read PARTIALLY_FILLED, the position a mismatch with no average, the
realized P&L lost.

Now the cursor is asked inclusively (`fromId` = the cursor, the same one call): Binance
answering with that very trade confirms it; anything else (nothing, or a later trade
first) means Binance holds no such trade of this account, and the symbol is asked by
time instead (from the cursor trade's time, deduplicated by trade id).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState, Fill, OrderStatus, Side
from silvertine_tui.engine import Session
from silvertine_tui.events import FillEvent
from tests.fakes.binance import Commission, FakeBinance
from tests.support.binance_broker import (
    DEFAULT_SYMBOLS,
    binance_config,
    binance_session,
    quick_library_timings,
)
from tests.support.binance_broker import Session as Venue
from tests.support.binance_stream import ETH, o1
from tests.support.waiting import until

BOGUS_TRADE = 99101


class Desk(NamedTuple):
    fake: FakeBinance
    session: Session
    broker: BinanceBroker
    bus: MemoryBus


@asynccontextmanager
async def desk() -> AsyncIterator[Desk]:
    """A fake Binance and a started `Session` trading ETHUSDT over a memory bus."""
    with quick_library_timings():
        bus = MemoryBus(BusOptions(prefix=f"cursor-{uuid.uuid4().hex[:8]}", block_ms=50))
        async with FakeBinance(
            symbols=DEFAULT_SYMBOLS,
            balances={"USDT": "100000"},
            commission=Commission(mode="quote"),
        ) as fake:
            await fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
            config = binance_config(fake, ["ETHUSDT"])
            settings = Settings(bus={"url": "memory://"}, brokers=[config])
            session = Session(settings, bus=bus)
            try:
                await session.start()
                [broker] = session.brokers
                assert isinstance(broker, BinanceBroker)
                broker.retry_first_s, broker.retry_max_s = 0.05, 0.2
                broker.user.retry_first_s, broker.user.retry_max_s = 0.05, 0.2
                broker.user.subscribe_timeout_s = 1.0
                await until(lambda: session.ready, 10.0, "the desk started")
                yield Desk(fake, session, broker, bus)
            finally:
                await session.close()


def bogus_trade(template: dict[str, Any], trade_id: int, *, time_ms: int) -> dict[str, Any]:
    """An executionReport TRADE of an order this account never had (Binance's bad data)."""
    return {
        **template,
        "E": time_ms,
        "c": "ghost1",
        "C": "",
        "i": 987654,
        "x": "TRADE",
        "X": "FILLED",
        "q": "0.05",
        "l": "0.05",
        "z": "0.05",
        "L": "1985",
        "Z": "99.25",
        "Y": "99.25",
        "n": "0",
        "N": None,
        "T": time_ms,
        "t": trade_id,
    }


async def journaled_execs(bus: MemoryBus) -> list[str]:
    entries = await bus.read(bus.layout.exec("binance", "spot"))
    return [e.event.payload.exec_id for e in entries if isinstance(e.event, FillEvent)]


async def test_a_trade_id_out_of_range_does_not_hide_the_trades_made_while_away() -> None:
    async with desk() as d:
        engine = d.session.engine
        await engine.submit(o1())
        await until(lambda: "o1" in engine.oms.orders, 5.0, "o1 placed")
        view = engine.oms.orders["o1"]
        await until(lambda: view.order.status is OrderStatus.NEW, 5.0, "o1 working")
        venue_id = d.fake.order_by_client_id("o1").order_id
        await d.fake.fill(venue_id, qty=D("0.4"))  # trade 1: a real one
        await until(lambda: view.order.filled_qty == D("0.4"), 5.0, "the first fill applied")

        # Binance's bad data: a trade of an order nobody here has, id out of range.
        template = next(e for e in d.fake.sent_user_events if e.get("e") == "executionReport")
        await d.fake.send_user_event(
            bogus_trade(template, BOGUS_TRADE, time_ms=int(time.time() * 1000))
        )
        await until(
            lambda: (
                (last := engine.portfolio.last_fills.get(("binance", "spot"), {}).get(ETH))
                is not None
                and last.exec_id == f"ETHUSDT-{BOGUS_TRADE}"
            ),
            5.0,
            "the bad trade journaled as the symbol's last",
        )
        await asyncio.sleep(d.broker.adopt_wait_s * 4)  # its adoption's reconcile ran

        # The venue goes away; o1 fills 0.3 more meanwhile (trade 2, the order still
        # working); the venue is back.
        await d.fake.stop(kill=True)
        await until(lambda: not d.broker.user.subscribed, 5.0, "the user stream lost")
        await d.fake.fill(venue_id, qty=D("0.3"))
        [real] = [t.trade_id for t in d.fake.exchange.trades if t.trade_id != 1]
        await d.fake.start()
        await until(
            lambda: d.broker.state is ConnectionState.LIVE and d.broker.user.subscribed,
            10.0,
            "the adapter back",
        )
        await until(lambda: view.order.filled_qty == D("0.7"), 5.0, "o1's fill journaled")
        assert view.order.status is OrderStatus.PARTIALLY_FILLED
        await asyncio.sleep(0.5)  # the session's reconcile after the reconnect too
        execs = await journaled_execs(d.bus)
        assert execs.count(f"ETHUSDT-{real}") == 1  # journaled, and once
        assert view.order.filled_qty == D("0.7")
        position = engine.portfolio.positions[("binance", "spot", ETH)]
        assert position.quantity == D("0.7")
        # An average again (the bad trade's anomaly is the engine's to say).
        assert position.avg_price is not None


async def test_a_sound_cursor_costs_no_more_calls() -> None:
    """A cursor Binance confirms (its trade the first of the answer) is asked as before:
    one myTrades call for the symbol, from the cursor (the known trade dropped)."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await s.broker.place(o1())
        venue_id = s.fake.order_by_client_id("o1").order_id
        await s.fake.fill(venue_id, qty=D("0.4"))
        await s.driver.settle()
        await until(lambda: s.broker._last_trade_id.get("ETHUSDT") == 1, 5.0, "trade 1 seen")
        await s.driver.drop_connection()
        await until(lambda: not s.broker.user.subscribed, 5.0, "the stream lost")
        await s.fake.fill(venue_id, qty=D("0.3"))  # trade 2, unheard (o1 still working)
        asked = len(s.fake.requests)
        await s.driver.restore_connection()
        await until(
            lambda: s.broker.user.subscribed and s.broker.state is ConnectionState.LIVE,
            5.0,
            "back and caught up",
        )
        trades_calls = [r for r in s.fake.requests[asked:] if r[1] == "/api/v3/myTrades"]
        assert len(trades_calls) == 1
        assert s.broker._last_trade_id["ETHUSDT"] == 2
        fills = [e for e in await s.events() if isinstance(e, FillEvent)]
        assert [f.payload.exec_id for f in fills] == ["ETHUSDT-1", "ETHUSDT-2"]


def journal_fill(exec_id: str, venue_ms: int | None, venue_order_id: str | None) -> Fill:
    """The journal's last fill in ETHUSDT as the engine hands it to a reconcile."""
    return Fill(
        exec_id=exec_id,
        client_order_id="o1",
        venue_order_id=venue_order_id,
        broker="binance",
        account="spot",
        instrument=ETH,
        side=Side.BUY,
        quantity=D("0.1"),
        price=D("1990"),
        venue_ts_ns=venue_ms * 1_000_000 if venue_ms is not None else None,
    )


async def trade_o1(s: Venue, fills: int) -> list[int]:
    """o1 (BUY 1 @ 1990) fills 0.1 `fills` times, a print of someone else's between
    each two (it takes a trade id: the account's ids have gaps). Its trade ids."""
    await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
    await s.broker.place(o1())
    venue_id = s.fake.order_by_client_id("o1").order_id
    for _ in range(fills):
        await s.fake.fill(venue_id, qty=D("0.1"))
        await s.fake.trade("ETHUSDT", D("2005"), D("1"))  # not ours: a gap in our ids
        await asyncio.sleep(0.002)
    await s.driver.settle()
    return [t.trade_id for t in s.fake.exchange.trades]


async def test_a_reconcile_from_a_trade_binance_does_not_hold_reports_the_trades_after() -> None:
    """The journal's last fill in ETHUSDT is a trade Binance does not hold (id 99101,
    made between the desk's trades 2 and 3): the reconcile asked from 99102 and got
    nothing; trades 3 and 4 were never journaled. Now they are reported."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        start_ns = time.time_ns() - 1_000_000_000
        ids = await trade_o1(s, 4)
        second = s.fake.exchange.trades[1]
        bogus = journal_fill(f"ETHUSDT-{BOGUS_TRADE}", second.time, "987654")
        report = await s.broker.reconcile(since_ns=start_ns, last_fills={ETH: bogus})
        reported = {f.exec_id for f in report.fills}
        assert {f"ETHUSDT-{i}" for i in ids[2:]} <= reported
        assert s.broker.health_state.errors["trade_cursor"] == 1
        # The cursor is Binance's newest trade of the account again, not the bad one.
        assert s.broker._last_trade_id["ETHUSDT"] == ids[-1]


@pytest.fixture(scope="module")
def traded() -> Iterator[tuple[asyncio.Runner, Venue, list[Any], int]]:
    """One fake Binance and connected adapter for every example: o1 filled 0.1 six
    times (trade ids with gaps), and the time (ns) before the first trade."""
    with asyncio.Runner() as runner:
        opened = binance_session(balances={"USDT": "100000"})
        s = runner.run(opened.__aenter__())
        try:
            start_ns = time.time_ns() - 1_000_000_000
            runner.run(trade_o1(s, 6))
            yield runner, s, list(s.fake.exchange.trades), start_ns
        finally:
            runner.run(opened.__aexit__(None, None, None))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    held=st.integers(1, 6),
    cursor=st.sampled_from(["sound", "not_ours", "out_of_range", "other_order"]),
    at=st.sampled_from(["its_time", "earlier", "later", "future", "none"]),
    far=st.integers(1, 10**6),
)
def test_no_trade_the_journal_lacks_is_lost_whatever_its_last_fill_says(
    traded: tuple[asyncio.Runner, Venue, list[Any], int],
    held: int,
    cursor: str,
    at: str,
    far: int,
) -> None:
    """For any last fill the journal holds in ETHUSDT (the `held`-th of the desk's
    trades, or, as bad data, a trade id Binance has of someone else, one out of its
    range, or the desk's trade id under another order), with any time (its own, before
    or after, in the future, none): every trade of the desk's after the `held`-th is
    reported. Asked from a trade Binance confirms, exactly those (nothing again)."""
    runner, s, trades, start_ns = traded
    ours = [t.trade_id for t in trades]
    last = trades[held - 1]
    trade_id = {
        "sound": last.trade_id,
        "not_ours": last.trade_id + 1,  # a print of someone else's
        "out_of_range": ours[-1] + 1000 + far,
        "other_order": last.trade_id,
    }[cursor]
    venue_ms = {
        "its_time": last.time,
        "earlier": last.time - 5,
        "later": last.time + 2,
        "future": int(time.time() * 1000) + 3_600_000,
        "none": None,
    }[at]
    order_id = "987654" if cursor == "other_order" else str(last.order_id)
    fill = journal_fill(f"ETHUSDT-{trade_id}", venue_ms, order_id)
    report = runner.run(s.broker.reconcile(since_ns=start_ns, last_fills={ETH: fill}))
    reported = {f.exec_id for f in report.fills}
    lacking = {f"ETHUSDT-{i}" for i in ours[held:]}
    assert lacking <= reported
    if cursor == "sound":
        assert reported == lacking
