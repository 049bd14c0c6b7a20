"""A cancel whose answer is lost, at the paper venue, is what it is at a real one.

A cancel that reached the venue, which cancelled the order, but whose answer went out on
a link that dropped meanwhile (queued behind reports still on their way) returned as if
answered: the trader was told nothing while the order showed PENDING_CANCEL, and a
kill switch counted it cancelled. A modify or a place whose answer is lost raises
`BrokerTimeout`, and so does such a cancel now: the order stays PENDING_CANCEL, the
trader is told why, and what the venue did (CANCELED) is journaled once the link is
back (the resync), or, on a link that stayed up (`lose_next_cancel_answer`), once the
venue is asked. Its end is journaled once: a cancel sent again meanwhile (the kill
switch retries a cancel that had no answer) is answered without journaling anything.

A cancel still on its way when the link drops never reaches the venue: `BrokerTimeout`
too, the order works on, and the reconcile after the reconnect journals it working
(the engine's; the paper resync publishes only what the venue did).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerTimeout, UnknownOrder
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, Side, TimeInForce
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from silvertine_tui.events import (
    BalanceEvent,
    CancelRequestEvent,
    OrderUpdateEvent,
)
from tests.support.waiting import until
from tests.unit.test_paper_restart import eth_book, limit, paper_config

S = OrderStatus
SLOW_REPORTS = {"ack_ms": 10, "fill_ms": 400, "cancel_ms": 0, "jitter_ms": 0}
"""Reports of a fill wait 400 ms in the outbox: a cancel's answer made meanwhile queues
behind them, and a link dropped before they leave loses it with them."""


class Journal:
    """The paper account's journal as it is written (a reader of the stream)."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.stream = bus.layout.exec("paper", "main")
        self.events: list[object] = []
        self.last_id = ""
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for entry in self.bus.tail({self.stream: "0-0"}):
            self.events.append(entry.event)
            self.last_id = entry.id

    async def caught_up(self) -> None:
        """Return once everything written so far has been read."""
        info = await self.bus.info(self.stream)
        last = info.last_id if info is not None else None
        await until(lambda: last is None or self.last_id == last, what="the journal read")

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def statuses(self, coid: str) -> list[OrderStatus]:
        return [
            e.payload.status
            for e in self.events
            if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
        ]

    def cancels_sent(self, coid: str) -> int:
        return sum(
            1
            for e in self.events
            if isinstance(e, CancelRequestEvent) and e.payload.client_order_id == coid
        )

    def after(self, coid: str, status: OrderStatus) -> list[object]:
        """What was journaled after `coid`'s last `status`."""
        at = max(
            i
            for i, e in enumerate(self.events)
            if isinstance(e, OrderUpdateEvent)
            and e.payload.client_order_id == coid
            and e.payload.status is status
        )
        return self.events[at + 1 :]


@contextlib.asynccontextmanager
async def paper(
    latency: dict[str, int] | None = None,
) -> AsyncIterator[tuple[PaperBroker, Journal]]:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(latency=latency) if latency else paper_config(), bus)
    journal = Journal(bus)
    journal.start()
    await broker.connect()
    await broker.on_market_data(eth_book([("1989.50", "5")], [("2000.50", "5")]))
    try:
        yield broker, journal
    finally:
        await broker.close()
        await journal.stop()
        await bus.close()


async def fill_report_on_its_way(broker: PaperBroker) -> None:
    """A buy filled by the market: its reports wait in the outbox (the fill latency)."""
    await broker.place(limit("F", Side.BUY, "0.1", "1999.00", TimeInForce.GTC))
    await broker.on_market_data(eth_book([("1989.00", "5")], [("1998.90", "5")]))


def cancelled_at_the_venue(broker: PaperBroker, coid: str) -> bool:
    order = broker.venue.order(coid)
    return order is not None and order.status is S.CANCELED


async def cancel_lost_on_a_dead_link(broker: PaperBroker, coid: str) -> BaseException | None:
    """Cancel `coid`: the venue cancels it, its answer queues behind a fill's reports, and
    the link drops before they leave. Returns what the cancel raised."""
    await fill_report_on_its_way(broker)
    cancel = asyncio.create_task(broker.cancel(coid))
    await until(lambda: cancelled_at_the_venue(broker, coid), what="the venue cancelled it")
    await broker.drop_link()
    [outcome] = await asyncio.gather(cancel, return_exceptions=True)
    return outcome


# -- the answer went out on a dead link -------------------------------------------------------


async def test_a_cancel_whose_answer_went_out_on_a_dead_link_is_no_answer() -> None:
    async with paper(SLOW_REPORTS) as (broker, journal):
        await broker.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
        outcome = await cancel_lost_on_a_dead_link(broker, "A")
        assert isinstance(outcome, BrokerTimeout), repr(outcome)
        assert "PENDING_CANCEL" in str(outcome)
        await broker.settle()
        await until(lambda: journal.statuses("A")[-1:] == [S.PENDING_CANCEL])
        await broker.restore_link()
        await until(lambda: S.CANCELED in journal.statuses("A"), what="CANCELED journaled")
        await broker.settle()
        await journal.caught_up()
        assert journal.statuses("A") == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]
        # The lock the order held is released in the journal too.
        [balance] = [e for e in journal.after("A", S.CANCELED) if isinstance(e, BalanceEvent)]
        assert balance.payload.locked == 0


async def test_a_cancel_sent_again_after_its_end_was_journaled_journals_nothing() -> None:
    """What the kill switch sends when a cancel had no answer: the same cancel again. Once
    the resync has journaled the order's end, it is answered at once and nothing is
    journaled (a second cancel request, PENDING_CANCEL after CANCELED, CANCELED again)."""
    async with paper(SLOW_REPORTS) as (broker, journal):
        await broker.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
        await cancel_lost_on_a_dead_link(broker, "A")
        await broker.settle()
        await broker.restore_link()
        await until(lambda: S.CANCELED in journal.statuses("A"), what="CANCELED journaled")
        with pytest.raises(UnknownOrder, match="already CANCELED"):
            await broker.cancel("A")
        await broker.settle()
        await journal.caught_up()
        assert journal.cancels_sent("A") == 1
        assert journal.statuses("A") == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]


async def test_a_cancel_all_whose_answer_went_out_on_a_dead_link_is_no_answer() -> None:
    async with paper(SLOW_REPORTS) as (broker, journal):
        await broker.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
        await broker.place(limit("B", Side.BUY, "1", "1989.00", TimeInForce.GTC))
        await fill_report_on_its_way(broker)
        cancel_all = asyncio.create_task(broker.cancel_all())
        await until(
            lambda: cancelled_at_the_venue(broker, "A") and cancelled_at_the_venue(broker, "B")
        )
        await broker.drop_link()
        [outcome] = await asyncio.gather(cancel_all, return_exceptions=True)
        assert isinstance(outcome, BrokerTimeout), repr(outcome)
        await broker.settle()
        await broker.restore_link()
        await until(lambda: S.CANCELED in journal.statuses("B"), what="CANCELED journaled")
        await broker.settle()
        await journal.caught_up()
        for coid in ("A", "B"):
            assert journal.statuses(coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]


async def test_the_kill_switch_over_a_cancel_whose_answer_was_lost_ends_it_once() -> None:
    """The kill switch's batch cancel loses its answer on the dead link; it cancels the
    order on its own, retrying while the link is down; once it is back the resync has
    journaled the order's end: the retry finds it gone. CANCELED is journaled once."""
    async with paper(SLOW_REPORTS) as (broker, journal):
        engine = TradingEngine(
            broker.bus, [broker], RiskConfig(), retry_delays=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
        )
        await engine.load_instruments()
        await broker.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
        await replay_stream(engine, broker.bus.layout.exec("paper", "main"))
        await fill_report_on_its_way(broker)
        kill = asyncio.create_task(engine.kill("drill"))
        await until(lambda: cancelled_at_the_venue(broker, "A"), what="the venue cancelled it")
        await broker.drop_link()
        await broker.settle()  # the batch's answer is lost
        await broker.restore_link()
        report = await kill
        assert report.still_working == {}, report.summary()
        assert "A" in (*report.cancelled, *report.cancels.gone)
        await broker.settle()
        await journal.caught_up()
        assert journal.statuses("A").count(S.CANCELED) == 1
        assert journal.cancels_sent("A") == 1


# -- the answer lost on a link that stays up ------------------------------------------------


async def test_a_cancel_whose_answer_is_lost_is_no_answer_and_its_end_is_found_by_asking() -> None:
    async with paper() as (broker, journal):
        await broker.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
        broker.lose_next_cancel_answer()
        with pytest.raises(BrokerTimeout, match="PENDING_CANCEL"):
            await broker.cancel("A")
        assert cancelled_at_the_venue(broker, "A")
        await until(lambda: S.CANCELED in journal.statuses("A"), what="CANCELED journaled")
        await broker.settle()
        await journal.caught_up()
        assert journal.statuses("A") == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]
        [balance] = [e for e in journal.after("A", S.CANCELED) if isinstance(e, BalanceEvent)]
        assert balance.payload.locked == 0
        # Only the next cancel loses its answer.
        await broker.place(limit("B", Side.BUY, "1", "1990.00", TimeInForce.GTC))
        await broker.cancel("B")
        await broker.settle()
        await journal.caught_up()
        assert journal.statuses("B")[-1] is S.CANCELED


async def test_a_lost_cancel_answer_then_a_dropped_link_is_journaled_once() -> None:
    """The answer is lost and the link drops before the venue is asked: the resync after
    the reconnect journals CANCELED, and the asking does not journal it again."""
    async with paper() as (broker, journal):
        await broker.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
        broker.lose_next_cancel_answer()
        with pytest.raises(BrokerTimeout):
            await broker.cancel("A")
        await broker.drop_link()  # before the venue is asked
        assert S.CANCELED not in journal.statuses("A")
        await broker.restore_link()
        await until(lambda: S.CANCELED in journal.statuses("A"), what="CANCELED journaled")
        # More reports go out after it, and the end is still journaled once.
        await broker.place(limit("B", Side.BUY, "1", "1990.00", TimeInForce.GTC))
        await broker.cancel("B")
        await broker.settle()
        await until(lambda: S.CANCELED in journal.statuses("B"))
        await journal.caught_up()
        assert journal.statuses("A") == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]


# -- the cancel on its way when the link drops -------------------------------------------------


async def test_a_cancel_in_flight_when_the_link_drops_never_reached_the_venue() -> None:
    """It never reached the venue (the link was gone before it arrived): no answer, the
    order still works there, and the reconcile after the reconnect journals it working
    again; nothing is ever CANCELED, and nothing is left PENDING_CANCEL."""
    latency = {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 300, "jitter_ms": 0}
    async with paper(latency) as (broker, journal):
        engine = TradingEngine(broker.bus, [broker], RiskConfig())
        await engine.load_instruments()
        await broker.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
        await replay_stream(engine, broker.bus.layout.exec("paper", "main"))
        cancel = asyncio.create_task(engine.cancel("A"))
        await until(lambda: journal.statuses("A")[-1:] == [S.PENDING_CANCEL])
        await broker.drop_link()
        [outcome] = await asyncio.gather(cancel, return_exceptions=True)
        assert isinstance(outcome, BrokerTimeout), repr(outcome)
        assert "in flight" in str(outcome)
        order = broker.venue.order("A")
        assert order is not None
        assert order.status is S.NEW
        await broker.restore_link()
        await broker.settle()
        await replay_stream(engine, broker.bus.layout.exec("paper", "main"))
        assert engine.oms.orders["A"].order.status is S.PENDING_CANCEL
        await reconcile_broker(engine, broker)  # what the session does on the reconnect
        assert engine.oms.orders["A"].order.status is S.NEW
        await journal.caught_up()
        assert S.CANCELED not in journal.statuses("A")
        assert order.quantity == D("1")
