"""An amend keepPriority is heard twice, its answer and its executionReport (`x`
REPLACED), in either order; the first one's journal write may still be on its way (the
bus slow, as Redis busy, or `_publish_lock` held by another write) when the second is
read, the order still PENDING_REPLACE in the adapter.

Before, the second was then read as another program's amend (the amend in flight
cleared by the first) and journaled after it: the last word on the modify was "amended
at Binance, not by this desk: quantity 0.6 -> 0.6" instead of "modify accepted"
(tests/unit/binance/test_binance_amend.py::
test_a_partly_filled_order_replaced_before_is_amended_to_its_total failed about one
run in six under load). Now an amend of the venue order at or above the quantity one
already taken left it at is dropped (`BinanceBroker._take_amend`, `TrackedOrder.
amended`): heard again, or older (an amend only lowers). And a take journals the terms
and the status it judged (`_journal_amend(quantity=, pending=)`), not those of a take
after it that the same wait let in first.

The wire is the real one: the fake Binance answers late or reports first, as Binance
may (REST and the user-data stream are two connections); the bus is a memory bus whose
one write is slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from typing import Any

import pytest

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.fakes.binance import Commission, FakeBinance, SymbolSpec
from tests.fakes.binance.client import binance_client
from tests.fakes.binance.server import Params, Reply
from tests.support.binance_broker import (
    BinanceDriver,
    Session,
    build_broker,
    quick_library_timings,
)
from tests.support.binance_stream import journaled, o1
from tests.support.waiting import until

S = OrderStatus
ETH = "ETHUSDT"
AMEND = ("PUT", "/api/v3/order/amend/keepPriority")
ACCEPTED = "modify accepted: amended in place at Binance (its place in the queue kept)"
NOT_OURS = "amended at Binance, not by this desk"


class SlowBus(MemoryBus):
    """A memory bus whose one write `slow_on` picks waits until `go` is set (Redis
    busy): `held` is set while it waits."""

    def __init__(self, options: BusOptions) -> None:
        super().__init__(options)
        self.slow_on: Callable[[EventBase], bool] | None = None
        self.held = asyncio.Event()
        self.go = asyncio.Event()

    async def publish(self, event: EventBase) -> str | None:
        if self.slow_on is not None and self.slow_on(event):
            self.slow_on = None
            self.held.set()
            await self.go.wait()
        return await super().publish(event)


class ReportsFirst(FakeBinance):
    """The next `reports_first` amends send their user-data events at once and their
    answer only when `answer` is set (Binance's stream ahead of its REST answer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reports_first = 0
        self.answer = asyncio.Event()

    async def _amend(self, request: Any, params: Params) -> Reply:
        reply = await super()._amend(request, params)
        if self.reports_first <= 0:
            return reply
        self.reports_first -= 1
        await self._deliver_user(reply.events)
        await self.answer.wait()
        return Reply(reply.body)


@contextlib.asynccontextmanager
async def desk() -> AsyncIterator[tuple[Session, SlowBus, ReportsFirst, TradingEngine]]:
    """o1 BUY 1.0 @ 1,990 working at Binance and NEW in the journal; ETHUSDT amendable;
    REST answers waited for up to 5 s (an answer held back here is not a timeout)."""
    with quick_library_timings():
        bus = SlowBus(BusOptions(prefix=f"binance-{uuid.uuid4().hex[:8]}", block_ms=50))
        await bus.start()
        fake = ReportsFirst(
            symbols=(SymbolSpec(ETH, "ETH", "USDT", amend_allowed=True),),
            balances={"USDT": "100000"},
            commission=Commission(mode="quote"),
        )
        async with fake:
            broker = build_broker(fake, bus, [ETH], request_timeout_s=5.0)
            session = Session(fake, bus, broker, BinanceDriver(fake, broker, ETH))
            try:
                await broker.connect()
                await fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
                engine = TradingEngine(bus, [broker], RiskConfig())
                await engine.load_instruments()
                await broker.place(o1())
                await journaled(
                    session,
                    engine,
                    lambda: (
                        "o1" in engine.oms.orders and engine.oms.orders["o1"].order.status is S.NEW
                    ),
                )
                yield session, bus, fake, engine
            finally:
                bus.go.set()
                fake.answer.set()
                await broker.close()
                await bus.close()


def says(reason: str) -> Callable[[EventBase], bool]:
    """The journal write of o1's update whose reason starts with `reason`."""
    return lambda e: (
        isinstance(e, OrderUpdateEvent)
        and e.payload.client_order_id == "o1"
        and e.payload.reason.startswith(reason)
    )


async def said(session: Session) -> list[tuple[OrderStatus, D | None, str]]:
    """o1's updates since its modify's PENDING_REPLACE (that one included)."""
    found = [
        (e.payload.status, e.payload.quantity, e.payload.reason)
        for e in await session.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "o1"
    ]
    first = next(i for i, u in enumerate(found) if u[0] is S.PENDING_REPLACE)
    return found[first:]


async def read_all(session: Session) -> None:
    """Every user-data event the fake sent handed to the adapter (maybe still in hand)."""
    fake = session.fake
    await until(lambda: session.broker.user.events >= len(fake.sent_user_events), 5.0, "read")


async def amend_elsewhere(fake: FakeBinance, new_qty: str) -> None:
    """Another program (the Binance app: no newClientOrderId) amends o1 to `new_qty`."""
    params = {"symbol": ETH, "newQty": new_qty, "origClientOrderId": "o1"}
    async with binance_client(fake) as other:
        await other._put("order/amend/keepPriority", signed=True, data=params)


async def ends_at(
    session: Session, engine: TradingEngine, quantity: D
) -> list[tuple[OrderStatus, D | None, str]]:
    """Everything read and written; Binance and the journal hold o1 NEW at `quantity`;
    o1's updates since its modify."""
    await read_all(session)
    await session.driver.settle()
    await asyncio.sleep(0.2)  # (nothing more comes)
    # (its client order id there maybe one Binance gave it)
    [at_binance] = [o for o in session.fake.orders.values() if o.client_order_id != "o2"]
    assert (at_binance.status, at_binance.orig_qty) == ("NEW", quantity)
    await journaled(
        session,
        engine,
        lambda: (
            (order := engine.oms.orders["o1"].order).quantity == quantity and order.status is S.NEW
        ),
    )
    return await said(session)


async def test_the_report_read_while_the_answer_is_journaled_is_not_another_programs() -> None:
    """o1 cut to 0.6: Binance's answer is taken first ("modify accepted"), its journal
    write slow; the executionReport is read meanwhile. Journaled once, as accepted."""
    async with desk() as (session, bus, fake, engine):
        fake.reorder_next_reports(1000)  # (the report after the answer, surely)
        bus.slow_on = says(ACCEPTED)
        modify = asyncio.create_task(session.broker.modify("o1", quantity=D("0.6")))
        await asyncio.wait_for(bus.held.wait(), 5.0)
        assert await fake.release_held_reports() == 1
        await read_all(session)
        await asyncio.sleep(0.1)  # (its handling: dropped, or waiting behind the write)
        bus.go.set()
        await modify

        assert await ends_at(session, engine, D("0.6")) == [
            (S.PENDING_REPLACE, None, ""),
            (S.NEW, D("0.6"), ACCEPTED),
        ]


async def test_the_answer_taken_while_the_report_is_journaled_is_not_another_programs() -> None:
    """o1 cut to 0.6: the executionReport comes first and is taken ("modify
    accepted"), its journal write slow; the answer comes meanwhile: it adds nothing,
    and the modify returns."""
    async with desk() as (session, bus, fake, engine):
        fake.reports_first = 1
        bus.slow_on = says(ACCEPTED)
        modify = asyncio.create_task(session.broker.modify("o1", quantity=D("0.6")))
        await asyncio.wait_for(bus.held.wait(), 5.0)
        fake.answer.set()
        # (its handling: dropped, the modify done; or waiting behind the write)
        await asyncio.wait({modify}, timeout=1.0)
        bus.go.set()
        await modify

        assert await ends_at(session, engine, D("0.6")) == [
            (S.PENDING_REPLACE, None, ""),
            (S.NEW, D("0.6"), ACCEPTED),
        ]


async def late_reports(fake: ReportsFirst) -> list[dict[str, Any]]:
    """The executionReports held back (`reorder_next_reports`), in the order made, to be
    sent in an order of the test's; none held from now."""
    held = fake.flush_held_reports()
    assert await fake.release_held_reports() == 0
    return held


async def test_another_programs_amend_waiting_behind_a_write_keeps_its_own_terms() -> None:
    """Another program cuts o1 to 0.8, then ours to 0.6, both reports late. Their
    report comes while ours is in flight and the desk's write of another order (o2
    sent: its PENDING_NEW) is slow: taken as theirs, it waits behind that write, and so
    does our answer, taken meanwhile. Their line says their 0.8, the modify still
    pending; ours after it says 0.6, accepted; our report adds nothing. (Judged when
    written, theirs read the order as ours had left it: NEW at 0.6, "not by this desk:
    1 -> 0.8".)"""
    async with desk() as (session, bus, fake, engine):
        broker = session.broker
        fake.reorder_next_reports(1000)
        await amend_elsewhere(fake, "0.8")
        fake.reports_first = 1  # (our answer when let go)
        modify = asyncio.create_task(broker.modify("o1", quantity=D("0.6")))
        await until(lambda: fake.requests.count(AMEND) == 2, 5.0, "our amend at Binance")
        theirs, ours = await late_reports(fake)
        bus.slow_on = lambda e: (
            isinstance(e, OrderUpdateEvent)
            and e.payload.client_order_id == "o2"
            and e.payload.status is S.PENDING_NEW
        )
        o2 = o1().model_copy(update={"client_order_id": "o2", "limit_price": D("1985")})
        place = asyncio.create_task(broker.place(o2))
        await asyncio.wait_for(bus.held.wait(), 5.0)
        await fake.send_user_event(theirs)
        await until(lambda: broker._orders["o1"].amended is not None, 5.0, "theirs taken")
        fake.answer.set()
        await until(lambda: broker._orders["o1"].amending is None, 5.0, "our answer taken")
        bus.go.set()
        await modify
        await place
        await fake.send_user_event(ours)

        updates = await ends_at(session, engine, D("0.6"))
        assert updates[1] == (S.PENDING_REPLACE, D("0.8"), updates[1][2])
        assert updates[1][2].startswith(f"{NOT_OURS}: quantity 1 -> 0.8"), updates[1][2]
        assert updates[2:] == [(S.NEW, D("0.6"), ACCEPTED)]


@pytest.mark.parametrize("stream", ["ours first", "theirs first"])
async def test_our_answer_after_a_later_amend_elsewhere_leaves_the_order_at_its_quantity(
    stream: str,
) -> None:
    """Ours cuts o1 to 0.6, then another program to 0.5, both acted on by Binance before
    our answer comes. The stream says ours then theirs (as Binance sends them), or,
    late, theirs first and ours after our answer. Binance holds 0.5: so does the
    journal at the end, the modify no longer pending (before, the late answer put it
    back to 0.6: "not by this desk: 0.5 -> 0.6", or "modify accepted" at 0.6)."""
    async with desk() as (session, _bus, fake, engine):
        fake.reports_first = 1  # (our answer when let go)
        if stream == "theirs first":
            fake.reorder_next_reports(1000)
        modify = asyncio.create_task(session.broker.modify("o1", quantity=D("0.6")))
        await until(lambda: fake.requests.count(AMEND) == 1, 5.0, "our amend at Binance")
        await amend_elsewhere(fake, "0.5")
        if stream == "theirs first":
            ours, theirs = await late_reports(fake)
            await fake.send_user_event(theirs)
        await read_all(session)
        await session.driver.settle()
        fake.answer.set()
        await modify
        if stream == "theirs first":
            await fake.send_user_event(ours)

        updates = await ends_at(session, engine, D("0.5"))
        assert not [u for u in updates if u[1] == D("0.6") and NOT_OURS in u[2]], updates
        if stream == "ours first":
            assert updates[1] == (S.NEW, D("0.6"), ACCEPTED)
            assert updates[2][:2] == (S.NEW, D("0.5")), updates
            assert updates[2][2].startswith(f"{NOT_OURS}: quantity 0.6 -> 0.5; client order id")
            assert len(updates) == 3, updates
        else:
            assert updates[1][:2] == (S.PENDING_REPLACE, D("0.5")), updates
            assert updates[1][2].startswith(f"{NOT_OURS}: quantity 1 -> 0.5"), updates
            assert updates[2:] == [
                (
                    S.NEW,
                    D("0.5"),
                    "modify accepted: amended in place at Binance to 0.6, then by another "
                    "program (not this desk) to 0.5",
                )
            ]


async def test_an_amend_after_a_replace_whose_status_waits_ends_its_pending_replace() -> None:
    """BUY 1.0: 0.4 fills, its price changes (a cancelReplace: 0.6 more under a new
    venue order), then it is cut to 0.8 in all (an amend) while the replace's status
    still waits for its account event (late: lost here, it goes after
    ACCOUNT_WAIT_S), this modify's PENDING_REPLACE a repeat behind it. The journal ends
    PARTIALLY_FILLED at 0.8, "modify accepted". (Before, flushed after the amend's
    answer, the wait put the order back to PENDING_REPLACE, and nothing ended it; or
    the amend's report, read after that, was journaled as another program's: "amended
    at Binance, not by this desk: quantity 0.8 -> 0.8".)"""
    async with desk() as (session, _bus, fake, engine):
        broker = session.broker
        await fake.fill(fake.order_by_client_id("o1").order_id, qty=D("0.4"))
        await journaled(
            session, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4")
        )
        fake.lose_next_account_event(100)
        await broker.modify("o1", limit_price=D("1991"))
        await broker.modify("o1", quantity=D("0.8"))
        await read_all(session)
        await session.driver.settle()
        await asyncio.sleep(0.5)  # (past ACCOUNT_WAIT_S: whatever waited has gone)

        [*_, at_binance] = sorted(fake.orders.values(), key=lambda o: o.order_id)
        # (the replacement: 0.8 less the 0.4 filled under the venue order it replaced)
        assert (at_binance.status, at_binance.orig_qty) == ("NEW", D("0.4"))
        await journaled(
            session,
            engine,
            lambda: (
                (order := engine.oms.orders["o1"].order).quantity == D("0.8")
                and order.status is S.PARTIALLY_FILLED
            ),
        )
        updates = await said(session)
        assert updates[-1] == (S.PARTIALLY_FILLED, D("0.8"), ACCEPTED), updates
        assert not [u for u in updates if NOT_OURS in u[2]], updates
