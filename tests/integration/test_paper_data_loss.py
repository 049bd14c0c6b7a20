"""Redis loses its data under a paper desk (a restart without persistence).

The paper venue is a simulator in the desk's process: its account lives in its journal,
and in its memory while the desk runs. A loss while the desk runs must not wipe it: the
desk re-seeds the journal from the venue and shows, then and after a restart, the same
working orders, positions, P&L and balances; the trader is told what happened, not to
"check the fills at the venue". A loss while no desk ran loses the paper account for
real: the next start says so plainly and makes nothing up.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import (
    Book,
    BookLevel,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.engine import Session
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import FillEvent, ReconcileEvent, ReconcileKind
from tests.support.redis_server import RedisServer, command
from tests.support.session_child import SYMBOL, applied_all, settings, until

pytestmark = pytest.mark.redis

PAPER_ALERT = "Paper venue re-seeded"
LOST_WHILE_DOWN = "Journal lost while no desk ran"


def order(
    side: Side,
    kind: OrderType,
    qty: str,
    price: Decimal | None = None,
    stop: Decimal | None = None,
) -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument=SYMBOL,
        side=side,
        order_type=kind,
        quantity=Decimal(qty),
        limit_price=price,
        stop_price=stop,
        tif=TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.GTC,
    )


def waiting_briefly(url: str, prefix: str) -> Settings:
    """`settings` with the shortest claim ttl (1 s, against 15 s): the first start after
    the loss takes its claims pending for one ttl (Redis no longer holds the epoch this
    host's record names), which this test does not look at (the claims' tests do)."""
    base = settings(url, prefix)
    return base.model_copy(update={"engine": base.engine.model_copy(update={"claim_ttl_s": 1.0})})


def account(session: Session) -> dict[str, object]:
    """What the desk shows of the paper account (marks excluded: the market moves)."""
    engine = session.engine
    return {
        "orders": {
            cid: (v.order.status, str(v.order.filled_qty), str(v.order.limit_price))
            for cid, v in sorted(engine.oms.orders.items())
        },
        "working": sorted(v.client_order_id for v in engine.oms.working()),
        "positions": {
            key[2]: (str(s.quantity), str(s.avg_price), str(s.realized_pnl))
            for key, s in sorted(engine.portfolio.positions.items())
        },
        "balances": {
            key[2]: (str(b.total), str(b.available), str(b.locked))
            for key, b in sorted(engine.portfolio.balances.items())
        },
    }


async def trade(session: Session) -> None:
    """A buy limit resting below the market, then a position and realized P&L (a part
    sold): the venue's newest order ids are finished orders', not the working one's."""
    engine = session.engine
    await until(engine, lambda: engine.last_price(SYMBOL) is not None)
    last = engine.last_price(SYMBOL)
    assert last is not None
    low = (last * Decimal("0.96")).quantize(Decimal("0.01"))
    await engine.submit(order(Side.BUY, OrderType.LIMIT, "0.01", low))
    await until(engine, lambda: len(engine.oms.working()) == 1 and not engine.oms.pending_new())
    await engine.submit(order(Side.BUY, OrderType.MARKET, "0.02"))
    await until(engine, lambda: engine.position("paper", "main", SYMBOL) == Decimal("0.02"))
    await engine.submit(order(Side.SELL, OrderType.MARKET, "0.01"))
    await until(engine, lambda: engine.position("paper", "main", SYMBOL) == Decimal("0.01"))


def paper(session: Session) -> PaperBroker:
    broker = session.brokers[0]
    assert isinstance(broker, PaperBroker)
    return broker


def venue_working(session: Session) -> list[str]:
    return sorted(o.client_order_id for o in paper(session).venue.open_orders())


async def lose_the_data(server: RedisServer, session: Session) -> None:
    """Redis restarts empty under the running desk; back once the desk has written
    back the paper account and a snapshot."""
    await server.akill()
    await server.arestart()  # empty: the journal and the snapshots are gone
    await written_back(session)


async def written_back(session: Session) -> None:
    """Until the desk, after a data loss, has written back the paper account and a
    snapshot (found within the epoch check, 1 s, then written back)."""
    for _ in range(300):
        if [a for a in session.alerts if a.title == PAPER_ALERT] and await latest_snapshot(
            session.bus, "paper", "main"
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the desk did not write the paper account back")


async def traded_desk(server: RedisServer, prefix: str) -> Session:
    """A paper desk started on `server` that traded (`trade`), its engine caught up."""
    session = Session(settings(server.url, prefix))
    await session.start()
    try:
        await trade(session)
        await paper(session).settle()
        await applied_all(session)
    except BaseException:
        await session.close()
        raise
    return session


async def test_a_paper_desk_keeps_its_account_when_redis_loses_its_data(key_prefix: str) -> None:
    with RedisServer() as server:
        session = await traded_desk(server, key_prefix)
        try:
            before = account(session)
            [(qty, _, realized)] = before["positions"].values()  # type: ignore[attr-defined]
            assert qty == "0.01"
            assert Decimal(realized) != 0
            assert len(before["working"]) == 1  # type: ignore[arg-type]

            await lose_the_data(server, session)
            assert session.bus.stats.data_loss_detected == 1

            # The desk shows what it showed: the venue kept it, the reconcile found
            # nothing to take away.
            assert account(session) == before
            assert venue_working(session) == before["working"]
            assert session.reconcile_findings == []
            assert session.engine.anomalies.total == 0
            [alert] = [a for a in session.alerts if a.title == PAPER_ALERT]
            assert "kept its working orders, positions and balances in memory" in alert.message
            assert "re-seeded" in alert.message
            assert "before the loss" in alert.message
            assert "check the fills" not in alert.message
            # The journal says it too, and holds the working order again.
            stream = session.bus.layout.exec("paper", "main")
            reseeded = [
                e.event.payload
                for e in await session.bus.read(stream)
                if isinstance(e.event, ReconcileEvent)
                and e.event.payload.kind is ReconcileKind.DATA_LOSS
            ]
            assert sorted(r.client_order_id for r in reseeded if r.venue_order) == before["working"]
        finally:
            await session.close()

        # A restart rebuilds the paper venue from the re-seeded journal: same account.
        restarted = Session(settings(server.url, key_prefix))
        await restarted.start()
        try:
            assert account(restarted) == before
            assert venue_working(restarted) == before["working"]
            assert restarted.reconcile_findings == []
            assert restarted.engine.anomalies.total == 0
            # The venue's ids continue after the desk's: a new fill is not taken for
            # one the desk has seen, and moves the position.
            engine = restarted.engine
            await until(engine, lambda: engine.last_price(SYMBOL) is not None)
            await engine.submit(order(Side.BUY, OrderType.MARKET, "0.01"))
            await until(engine, lambda: engine.position("paper", "main", SYMBOL) == Decimal("0.02"))
        finally:
            await restarted.close()


async def test_a_paper_account_lost_while_no_desk_ran_is_said_plainly(key_prefix: str) -> None:
    with RedisServer() as server:
        session = Session(settings(server.url, key_prefix))
        await session.start()
        try:
            await trade(session)
        finally:
            await session.close()
        await server.akill()
        await server.arestart()  # no persistence: the journal and the epoch are gone

        restarted = Session(waiting_briefly(server.url, key_prefix))
        await restarted.start()
        try:
            [alert] = [a for a in restarted.alerts if a.title == LOST_WHILE_DOWN]
            assert "the paper venue paper/main" in alert.message
            assert "lived only in that journal" in alert.message
            assert "starts again from its starting cash" in alert.message
            assert "check the fills" not in alert.message
            # What the desk shows is the fresh paper account, nothing made up.
            shown = account(restarted)
            assert shown["orders"] == {}
            assert shown["working"] == []
            assert shown["positions"] == {}
            assert shown["balances"] == {
                "USD": ("100000", "100000", "0"),
                "USDT": ("100000", "100000", "0"),
            }
            assert venue_working(restarted) == []
            assert restarted.reconcile_findings == []
            stream = restarted.bus.layout.exec("paper", "main")
            journal = await restarted.bus.read(stream)
            assert not [e for e in journal if isinstance(e.event, FillEvent)]
        finally:
            await restarted.close()


def hand_driven(url: str, prefix: str) -> Settings:
    """A paper desk whose market moves only when the test feeds it a book."""
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "symbols": ["BTCUSDT"],
                    "market": {"autorun": False},
                }
            ],
        }
    )


def book(bid: Decimal, ask: Decimal, ask_size: str = "5") -> Book:
    return Book(
        instrument=SYMBOL,
        bids=(BookLevel(price=bid, size=Decimal("5")),),
        asks=(BookLevel(price=ask, size=Decimal(ask_size)),),
    )


async def test_a_part_filled_order_and_a_triggered_stop_survive_the_loss(key_prefix: str) -> None:
    with RedisServer() as server:
        session = Session(hand_driven(server.url, key_prefix))
        await session.start()
        try:
            engine = session.engine
            broker = paper(session)
            mid = broker.venue.mid(SYMBOL)
            assert mid is not None
            cent = Decimal("0.01")
            for _ in range(100):  # until the engine's reader, started just now, has it
                await broker.on_market_data(book(mid - cent, mid + cent))
                if engine.last_price(SYMBOL) == mid:
                    break
                await engine.wait_changed(0.1)
            assert engine.last_price(SYMBOL) == mid
            limit = (mid * Decimal("0.98")).quantize(cent)
            part = await engine.submit(order(Side.BUY, OrderType.LIMIT, "0.02", limit))
            # A buy stop-limit below the ask triggers at once and rests at its limit.
            stop = (mid * Decimal("0.99")).quantize(cent)
            low = (mid * Decimal("0.97")).quantize(cent)
            triggered = await engine.submit(
                order(Side.BUY, OrderType.STOP_LIMIT, "0.01", low, stop=stop)
            )
            await broker.on_market_data(book(limit - 1, limit - cent, ask_size="0.007"))
            await broker.on_market_data(book(mid - cent, mid + cent))
            await broker.settle()
            await until(engine, lambda: engine.position("paper", "main", SYMBOL) > 0)
            sim = broker.venue.order(triggered)
            assert sim is not None
            assert sim.triggered
            await applied_all(session)
            before = account(session)
            assert before["orders"][part][:2] == (  # type: ignore[index]
                OrderStatus.PARTIALLY_FILLED,
                "0.007",
            )
            assert before["working"] == sorted([part, triggered])
            venue_before = await broker.reconcile()

            await lose_the_data(server, session)
            assert account(session) == before
            assert session.reconcile_findings == []
        finally:
            await session.close()

        restarted = Session(hand_driven(server.url, key_prefix))
        await restarted.start()
        try:
            assert account(restarted) == before
            assert restarted.reconcile_findings == []
            assert restarted.engine.anomalies.total == 0
            broker = paper(restarted)
            venue_after = await broker.reconcile()
            assert venue_after.open_orders == venue_before.open_orders
            assert venue_after.positions == venue_before.positions
            assert venue_after.balances == venue_before.balances
            sim = broker.venue.order(triggered)
            assert sim is not None
            assert sim.triggered
            assert not sim.is_stop
            # The part-filled order fills on: its new fill is taken (its execution id
            # is not one of the fills before the loss) and the position moves by it.
            engine = restarted.engine
            view = engine.oms.get(part)
            assert view is not None
            old_execs = set(view.order.exec_ids)
            await broker.on_market_data(book(limit - 1, limit - cent))
            await broker.settle()
            await until(engine, lambda: engine.position("paper", "main", SYMBOL) >= Decimal("0.02"))
            view = engine.oms.get(part)
            assert view is not None
            assert view.order.status is OrderStatus.FILLED
            assert view.order.filled_qty == Decimal("0.02")
            assert old_execs < set(view.order.exec_ids)
        finally:
            await restarted.close()


async def test_a_reseed_over_an_older_copy_of_the_journal_brings_nothing_back(
    key_prefix: str,
) -> None:
    """Redis may come back with an older copy of the journal (an RDB file) rather than
    none: what that copy holds is not the venue's state any more. The re-seed is."""
    with RedisServer() as server:
        bus = create_bus(server.url, BusOptions(prefix=key_prefix, block_ms=50))
        await bus.start()
        config = PaperBrokerConfig(
            name="paper", account="main", symbols=["BTCUSDT"], market={"autorun": False}
        )
        try:
            broker = PaperBroker(config, bus)
            await broker.connect()
            mid = broker.venue.mid(SYMBOL)
            assert mid is not None
            cent = Decimal("0.01")
            kept = order(Side.BUY, OrderType.LIMIT, "0.01", (mid * Decimal("0.98")).quantize(cent))
            gone = order(Side.BUY, OrderType.LIMIT, "0.01", (mid * Decimal("0.97")).quantize(cent))
            await broker.place(kept)
            await broker.place(gone)
            await broker.settle()
            await asyncio.to_thread(command, server.host, server.port, "SAVE")  # the copy
            await broker.cancel(gone.client_order_id)
            await broker.place(order(Side.BUY, OrderType.MARKET, "0.01"))
            await broker.settle()
            before = await broker.reconcile()
            assert [o.client_order_id for o in before.open_orders] == [kept.client_order_id]

            await server.akill()
            await server.arestart()  # loads the copy: `gone` working, no position
            for _ in range(100):
                if bus.stats.data_loss_detected:
                    break
                await asyncio.sleep(0.1)
            assert bus.stats.data_loss_detected
            said = await broker.reseed_journal()
            assert "re-seeded from them (1 working order(s)" in said
            await broker.close()

            restarted = PaperBroker(config, bus)
            await restarted.connect()
            after = await restarted.reconcile()
            assert after.open_orders == before.open_orders
            assert after.positions == before.positions
            assert after.balances == before.balances
            await restarted.close()
        finally:
            await bus.close()
