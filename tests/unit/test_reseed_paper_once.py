"""A fill Redis lost, journaled again after the paper venue's re-seed, counts once when
the venue is rebuilt from that journal.

Redis loses the journal under a running desk; the paper venue writes back what it holds
(`PaperBroker.reseed_journal`): its working orders, positions and balances, every fill
it made counted in them. A fill the venue made before the loss that the desk never read
(F) is then journaled again by the reconcile that follows (a missed fill: the venue's
own fill, as it reported it), after the re-seed. A restart rebuilds the venue from the
journal (`journal.restore_from_journal`): it took the re-seed's positions and balances
and then applied F on top of them, so F counted twice in the paper venue's own account
(cash and position) and, for an order still working, in its filled quantity.

The journal here is written by the real adapter on the memory bus: the trades, the loss
(every entry of the journal dropped, as Redis restarting empty leaves it), the re-seed,
and F journaled after it as `engine.recovery.reconcile` journals a missed fill (the
adapter's own `reconcile` report, a MISSED_FILL reconcile, then the fill). The whole
path with a Redis the test starts is tests/integration/test_reseed_paper_once_redis.py.
"""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import Book, BookLevel, Fill, OrderType, Side, TimeInForce, plain
from silvertine_tui.events import FillEvent, Reconcile, ReconcileEvent, ReconcileKind
from tests.unit.test_paper_broker import order
from tests.unit.test_paper_restart import ETH, paper_config, venue_state


def book(bid: str, ask: str, size: str = "5") -> Book:
    return Book(
        instrument=ETH,
        bids=(BookLevel(price=D(bid), size=D(size)),),
        asks=(BookLevel(price=D(ask), size=D(size)),),
    )


async def started() -> tuple[MemoryBus, PaperBroker]:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(), bus)
    await broker.connect()
    await broker.on_market_data(book("1999", "2001"))
    return bus, broker


async def last_fill(broker: PaperBroker) -> Fill:
    """The venue's newest fill, as it reports it (the last the desk read)."""
    return (await broker.reconcile(since_ns=0)).fills[-1]


async def lose_reseed_and_journal_again(bus: MemoryBus, broker: PaperBroker, read: Fill) -> str:
    """Redis lost the journal with F in it (the desk had read up to `read`): the venue
    re-seeds it, then the reconcile journals F again. Returns F's execution id."""
    stream = bus.layout.exec("paper", "main")
    assert await bus.trim(stream, 0)  # every entry lost
    assert await broker.reseed_journal()
    report = await broker.reconcile(since_ns=0, last_fills={ETH: read})
    [missed] = report.fills  # F: made before the re-seed, never read by the desk
    await bus.publish(
        ReconcileEvent.create(
            broker.source,
            Reconcile(
                kind=ReconcileKind.MISSED_FILL,
                instrument=missed.instrument,
                client_order_id=missed.client_order_id,
                venue=(
                    f"{missed.side} {plain(missed.quantity)} @ {plain(missed.price)} "
                    f"({missed.exec_id})"
                ),
                detail="fill made while we were away, as the venue reported it",
            ),
        )
    )
    await bus.publish(FillEvent.create(broker.source, missed))
    return missed.exec_id


async def restarted(bus: MemoryBus) -> PaperBroker:
    broker = PaperBroker(paper_config(), bus)
    await broker.connect()
    await broker.settle()
    return broker


async def test_a_lost_fill_of_a_finished_order_counts_once_after_a_restart() -> None:
    """Bought 2, sold 1 (read by the desk), then sold 0.5 (F: lost with Redis, its order
    done). The restarted venue holds 0.5 ETH and the cash the live one held (it held
    0.0 and the proceeds of F twice)."""
    bus, first = await started()
    await first.place(order("b1", Side.BUY, "2", kind=OrderType.MARKET, tif=TimeInForce.IOC))
    await first.place(order("s1", Side.SELL, "1", kind=OrderType.MARKET, tif=TimeInForce.IOC))
    await first.settle()
    read = await last_fill(first)
    await first.place(order("s2", Side.SELL, "0.5", kind=OrderType.MARKET, tif=TimeInForce.IOC))
    await first.settle()
    await lose_reseed_and_journal_again(bus, first, read)
    live = venue_state(first)
    assert live["positions"][ETH][0] == D("0.5")
    await first.close()

    second = await restarted(bus)
    try:
        assert venue_state(second) == live
        assert second.journal is not None
        assert second.journal.reseeded
    finally:
        await second.close()
        await bus.close()


async def test_a_lost_fill_of_a_working_order_counts_once_after_a_restart() -> None:
    """A buy of 2 at 2000 rests; 1 fills (read by the desk), then 0.5 (F, lost with
    Redis). The re-seed writes the order back working, 1.5 of 2 filled; F journaled
    after it. The restarted venue holds the order at 1.5 of 2, not 2 of 2 (it filled F
    again), the position and cash the live one held, and the order's next execution
    takes an id of its own (after F's)."""
    bus, first = await started()
    await first.place(order("b1", Side.BUY, "2", D("2000"), tif=TimeInForce.GTC))
    await first.on_market_data(book("1990", "1999", "1"))
    await first.settle()
    read = await last_fill(first)
    await first.on_market_data(book("1990", "2001"))
    await first.on_market_data(book("1990", "1999", "0.5"))
    await first.settle()
    f_exec = await lose_reseed_and_journal_again(bus, first, read)
    live = venue_state(first)
    assert live["open"]["b1"][2] == D("1.5")
    await first.close()

    second = await restarted(bus)
    try:
        assert venue_state(second) == live
        b1 = second.venue.order("b1")
        assert b1 is not None
        assert b1.filled_qty == D("1.5")
        # The next fill takes an execution id the order never had.
        await second.on_market_data(book("1990", "2001"))
        await second.on_market_data(book("1990", "1999", "5"))
        await second.settle()
        assert b1.filled_qty == D("2")
        ids = [f.exec_id for f in b1.fills]
        assert ids[-1] not in {read.exec_id, f_exec}, ids
    finally:
        await second.close()
        await bus.close()
