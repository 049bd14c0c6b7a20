"""The send guard (trading HALTED, the claim lapsed) asked again right before each
request that places or changes an order reaches Binance, after every await of the
adapter's own since the last ask: trading set HALTED through the engine while one of
them runs sends nothing.

- The last-trade check before a cancelReplace (its 24 h ticker): the re-ask after it
  (7145a54) had no test.
- What of the journal's fills are the replacement's (`_learn_shares`, myTrades) before
  an amend, asked after a restart: the amend went (PUT) after HALTED; it re-asked only
  when a held status was written first.
- A -1021 and the clock re-sync (GET time) before a new order or an amend is sent again:
  sent again after HALTED, the guard never asked.

The real python-binance client against the fake Binance; the engine's guard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerError, OrderRejected
from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TradingState,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, recover, replay_stream
from silvertine_tui.events import OrderUpdateEvent
from tests.fakes.binance import SymbolSpec
from tests.support.binance_broker import Session, binance_session, build_broker
from tests.support.binance_replaced import working
from tests.support.waiting import until
from tests.unit.binance.test_binance_restart_replaced_fill_away import Case, until_away

S = OrderStatus
ETH = "ETHUSDT"
KEY = "ETHUSDT.BINANCE"
AMENDABLE = (SymbolSpec(ETH, "ETH", "USDT", amend_allowed=True),)
REPLACE = ("POST", "/api/v3/order/cancelReplace")
AMEND = ("PUT", "/api/v3/order/amend/keepPriority")
PLACE = ("POST", "/api/v3/order")
HALTED = "trading is HALTED"


async def engine_of(s: Session) -> TradingEngine:
    """The engine over the adapter: its send guard is the engine's."""
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await engine.load_instruments()
    return engine


async def halt_once_asked(s: Session, engine: TradingEngine, request: tuple[str, str]) -> None:
    """Once Binance has been sent `request` (from now on), trading goes HALTED through
    the engine, as the trader's F-key does (no cancels: the state alone)."""
    sent = len(s.fake.requests)
    await until(lambda: request in s.fake.requests[sent:], 5.0, f"{request} sent")
    await engine.set_trading_state(TradingState.HALTED)
    assert engine.gate.state is TradingState.HALTED


def statuses(events: Sequence[object], coid: str) -> list[tuple[OrderStatus, str]]:
    return [
        (e.payload.status, e.payload.reason)
        for e in events
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


def stop_limit_sell(coid: str) -> OrderRequest:
    """Stop 1,980 below the last trade (2,000): it waits."""
    return OrderRequest(
        client_order_id=coid,
        broker="binance",
        account="spot",
        instrument=KEY,
        side=Side.SELL,
        order_type=OrderType.STOP_LIMIT,
        quantity=D("0.5"),
        stop_price=D(1980),
        limit_price=D(1975),
    )


def limit_buy(coid: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="binance",
        account="spot",
        instrument=KEY,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("1.0"),
        limit_price=D("1990"),
    )


async def quoted(s: Session) -> None:
    await s.fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
    await s.fake.trade(ETH, "2000", "0.1")  # Binance judges stops on its last trade


async def test_halted_during_the_last_trade_check_sends_no_cancel_replace() -> None:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as s:
        await quoted(s)
        engine = await engine_of(s)
        coid = await s.broker.place(stop_limit_sell("stopmod1"))
        await until(lambda: s.broker._orders[coid].status is S.NEW, 5.0, "NEW")
        await replay_stream(engine, s.stream)
        s.fake.slow_replies("GET", "/api/v3/ticker/24hr", 0.5)
        modify = asyncio.create_task(engine.modify(coid, stop_price=D(1985)))
        await halt_once_asked(s, engine, ("GET", "/api/v3/ticker/24hr"))
        with pytest.raises(OrderRejected, match=HALTED):
            await modify
        assert REPLACE not in s.fake.requests
        venue = s.fake.order_by_client_id(coid)
        assert (venue.status, venue.stop_price) == ("NEW", D(1980))
        last, reason = statuses(await s.events(), coid)[-1]
        assert last is S.NEW
        assert reason.startswith(f"modify not sent: {HALTED}"), reason


async def test_halted_while_the_fills_are_shared_out_sends_no_amend() -> None:
    """After a restart from a snapshot, an amend first asks Binance which of the
    journal's fills are the replacement's (myTrades); trading HALTED meanwhile."""
    async with binance_session(symbols=AMENDABLE, balances={"USDT": "100000"}) as s:
        await until_away(s, Case(before=7, up=3, away=0, snapshot="at_close"))
        again: BinanceBroker = build_broker(s.fake, s.bus, [ETH])
        engine = TradingEngine(s.bus, [again], RiskConfig())
        await recover(engine, [("binance", "spot")])
        try:
            await again.connect()
            await engine.load_instruments()
            # The reconcile could not ask for the replacement's trades: the modify asks.
            s.fake.fail_next_requests(1000, path="/api/v3/myTrades")
            with pytest.raises(BrokerError):
                await reconcile_broker(engine, again)
            s.fake.faults.failed_requests = 0
            await until(lambda: not again.order_path_down(), 5.0, "orders may go out")
            before = working(s, "o1")
            s.fake.slow_replies("GET", "/api/v3/myTrades", 0.5)
            modify = asyncio.create_task(again.modify("o1", quantity=D("1.4")))
            await halt_once_asked(s, engine, ("GET", "/api/v3/myTrades"))
            with pytest.raises(OrderRejected, match=HALTED):
                await modify
            assert AMEND not in s.fake.requests
            assert working(s, "o1").orig_qty == before.orig_qty
            last, reason = statuses(await s.events(), "o1")[-1]
            assert last is S.PARTIALLY_FILLED
            assert HALTED in reason, reason
        finally:
            await again.close()


@pytest.mark.parametrize("what", ["place", "replace", "amend"])
async def test_halted_during_the_clock_resync_sends_nothing_again(what: str) -> None:
    """Binance refuses the first send (-1021: its timestamp): nothing done there. The
    adapter re-syncs with Binance's time and sends it again: not once HALTED."""
    async with binance_session(symbols=AMENDABLE, balances={"USDT": "10000"}) as s:
        await quoted(s)
        engine = await engine_of(s)
        coid = ""
        if what != "place":
            coid = await s.broker.place(limit_buy("amended1"))
            await until(lambda: s.broker._orders[coid].status is S.NEW, 5.0, "NEW")
            await replay_stream(engine, s.stream)
        placed = len(s.fake.exchange.orders)
        s.fake.set_clock_skew(10_000)  # every signed request now refused -1021 once
        s.fake.slow_replies("GET", "/api/v3/time", 0.5)
        sent = len(s.fake.requests)
        sends = {"place": PLACE, "replace": REPLACE, "amend": AMEND}[what]
        task: asyncio.Task[object]
        if what == "place":
            task = asyncio.create_task(engine.submit(limit_buy("placed01")))
        elif what == "replace":
            task = asyncio.create_task(engine.modify(coid, limit_price=D("1985")))
        else:
            task = asyncio.create_task(engine.modify(coid, quantity=D("0.6")))
        await halt_once_asked(s, engine, ("GET", "/api/v3/time"))
        with pytest.raises(OrderRejected, match=HALTED):
            await task
        s.fake.set_clock_skew(0)
        asked = s.fake.requests[sent:]
        assert asked.count(sends) == 1, asked
        assert len(s.fake.exchange.orders) == placed, "nothing placed"
        if what == "place":
            last, reason = statuses(await s.events(), "placed01")[-1]
            assert last is S.REJECTED
        else:
            venue = s.fake.order_by_client_id(coid)
            assert (venue.status, venue.orig_qty, venue.price) == ("NEW", D("1.0"), D("1990"))
            last, reason = statuses(await s.events(), coid)[-1]
            assert last is S.NEW
        assert HALTED in reason, reason


async def test_an_amend_refused_for_the_clock_goes_once_re_synced() -> None:
    """Sent again after the re-sync, the amend carried its first send's signature
    (python-binance signs the dict it is given in place): -1022, read as Binance
    refusing the API key pair, the amend not made."""
    async with binance_session(symbols=AMENDABLE, balances={"USDT": "10000"}) as s:
        await quoted(s)
        coid = await s.broker.place(limit_buy("amended2"))
        await until(lambda: s.broker._orders[coid].status is S.NEW, 5.0, "NEW")
        s.fake.set_clock_skew(10_000)
        sent = len(s.fake.requests)
        await s.broker.modify(coid, quantity=D("0.6"))
        assert s.fake.requests[sent:].count(AMEND) == 2  # refused -1021, then taken
        assert s.fake.order_by_client_id(coid).orig_qty == D("0.6")
        assert s.broker.rest.clock_resyncs == 1
