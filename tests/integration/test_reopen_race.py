"""The reconcile's re-open (`recovery._reopen`) never overrides a later venue report.

The drill (code review item 2): an order ended here wrongly (FILLED on a report that
filled more than it; the venue still holds it NEW). The reconcile lists it open and
asks the venue again (`query_order`): "open". Before the re-opening reaches the
journal, the venue's CANCELED of it (the trader cancelled it in the venue's app) does:
the OMS drops it as a report after the end (the order reads FILLED here), then the
re-opening made the order NEW. The desk showed working, and counted, an order the
venue no longer had, until `c` or the next reconcile.

Now the re-opening is written as the journal's next entry after the entries checked
since the question went out (`publish_if_newest`); a report of the order among them has
the venue asked again. A desk rebuilt from the journal alone ends the same.

Run on the memory bus and on a Redis of the test session's own (where every read and
write yields to the event loop, so a report can land anywhere in the re-open).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal as D

import pytest

from silvertine_tui.bus import BusOptions, EventBus, MemoryBus
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, OrderUpdate, VenueOrder
from silvertine_tui.engine import recovery
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.order_history import belongs
from silvertine_tui.engine.recovery import catch_up, reconcile_broker, recover
from silvertine_tui.events import OrderUpdateEvent, ReconcileEvent, ReconcileKind
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.integration.test_overfill_reconcile import SRC, buy, overfilled
from tests.support.redis_server import RedisServer

S = OrderStatus
ACCOUNT = [("scripted", "main")]

NewBus = Callable[[], Awaitable[EventBus]]


@pytest.fixture(params=["memory", "redis"])
async def new_bus(request: pytest.FixtureRequest) -> AsyncIterator[NewBus]:
    """A fresh journal each call: a memory bus, or this test session's Redis under a
    prefix of its own."""
    opened: list[EventBus] = []

    async def make() -> EventBus:
        bus: EventBus
        if request.param == "memory":
            bus = MemoryBus()
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            bus = RedisBus(server.url, BusOptions(prefix=f"t-{uuid.uuid4().hex}"))
        await bus.start()
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        await bus.close()


async def overfilled_order(bus: EventBus) -> tuple[TradingEngine, ScriptedVenue, str]:
    """BUY 2 placed; the venue's one report filled 5 (FILLED here); the venue holds it
    NEW, and its position is the 5 (a position taken is another finding)."""
    venue = ScriptedVenue.build(bus)
    engine = TradingEngine(bus, [venue], RiskConfig())
    await venue.connect()
    await engine.load_instruments()
    cid = await engine.submit(buy("2"))
    await catch_up(engine, SRC)
    await overfilled(bus, engine, cid)  # type: ignore[arg-type]
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.FILLED
    venue.venue_positions[INSTRUMENT.key] = D(5)
    return engine, venue, cid


def cancelled(cid: str) -> OrderUpdateEvent:
    return OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=cid, status=S.CANCELED))


async def rebuilt_alike(bus: EventBus, engine: TradingEngine, cid: str) -> None:
    """A desk rebuilt from the journal alone holds the order as the live one does."""
    fresh = TradingEngine(bus, [ScriptedVenue.build(bus)], RiskConfig())
    await recover(fresh, ACCOUNT)
    live, again = engine.oms.get(cid), fresh.oms.get(cid)
    assert live is not None
    assert again is not None
    assert again.order.model_dump() == live.order.model_dump()
    assert [v.client_order_id for v in fresh.oms.working()] == [
        v.client_order_id for v in engine.oms.working()
    ]


async def test_an_end_journaled_while_the_venue_is_asked_is_not_undone(new_bus: NewBus) -> None:
    """The review's repro: the venue answers "open", then cancels the order, and its
    CANCELED is journaled and applied (dropped: FILLED here) before the re-opening is
    written. The order stays ended (it read NEW, working, after the reconcile), nothing
    is said re-opened, and a replay ends the same."""
    bus = await new_bus()
    engine, venue, cid = await overfilled_order(bus)
    asked = venue.query_order
    answers: list[VenueOrder | None] = []

    async def answered_then_cancelled(client_order_id: str) -> VenueOrder | None:
        answer = await asked(client_order_id)
        answers.append(answer)
        if venue.venue_orders.pop(client_order_id, None) is not None:  # ... cancelled there
            await bus.publish(cancelled(client_order_id))
            await catch_up(engine, SRC)  # the reader applied it (TERMINAL: dropped)
        return answer

    venue.query_order = answered_then_cancelled  # type: ignore[method-assign]
    found = await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)

    assert answers[0] is not None
    assert answers[0].status is S.NEW
    assert answers[1:] == [None]  # asked again after the report: gone
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.FILLED, "working here, gone at the venue"
    assert engine.oms.working() == []
    assert [r for r in found if r.client_order_id == cid] == []
    assert engine.anomalies.counts[AnomalyKind.REOPENED] == 0
    await rebuilt_alike(bus, engine, cid)


YIELDS = range(0, 121, 3)


async def test_an_end_landing_anywhere_in_the_reopen_is_never_undone(new_bus: NewBus) -> None:
    """The venue answers "open"; its CANCELED is written to the journal by another task
    (the adapter's user stream) after `k` turns of the event loop: while the answer is
    checked, between the check and the write, or after the re-opening. Wherever it
    lands, the desk ends as the venue is (the order not working), and a desk rebuilt
    from the journal alone ends the same. Before, a CANCELED landing between the answer
    and the re-opening's write was dropped and the order read NEW."""
    for k in YIELDS:
        bus = await new_bus()
        engine, venue, cid = await overfilled_order(bus)
        asked = venue.query_order
        writers: list[asyncio.Task[None]] = []

        async def cancel_later(client_order_id: str, turns: int, bus: EventBus = bus) -> None:
            for _ in range(turns):
                await asyncio.sleep(0)
            await bus.publish(cancelled(client_order_id))

        async def answered(
            client_order_id: str,
            venue: ScriptedVenue = venue,
            asked: Callable[[str], Awaitable[VenueOrder | None]] = asked,
            k: int = k,
            writers: list[asyncio.Task[None]] = writers,
        ) -> VenueOrder | None:
            answer = await asked(client_order_id)
            if venue.venue_orders.pop(client_order_id, None) is not None:
                writers.append(asyncio.create_task(cancel_later(client_order_id, k)))
            return answer

        venue.query_order = answered  # type: ignore[method-assign]
        await reconcile_broker(engine, venue)
        await asyncio.gather(*writers)
        await catch_up(engine, SRC)
        view = engine.oms.get(cid)
        assert view is not None
        assert cid not in venue.venue_orders
        assert view.order.status.is_terminal, (k, view.order.status, "gone at the venue")
        assert engine.oms.working() == [], k
        await rebuilt_alike(bus, engine, cid)


async def test_a_report_after_the_answer_has_the_venue_asked_again(new_bus: NewBus) -> None:
    """A report that ends the order reaches the journal after the venue's "open" (a
    status the OMS drops after the end) but the venue still holds it: asked again, still
    open, and the order is re-opened once, after that report. (A report that does not
    end it, a NEW, is no reason to ask again: tests/unit/test_reopen_reports.py.)"""
    bus = await new_bus()
    engine, venue, cid = await overfilled_order(bus)
    asked = venue.query_order
    answers: list[VenueOrder | None] = []

    async def answered_then_reported(client_order_id: str) -> VenueOrder | None:
        answer = await asked(client_order_id)
        answers.append(answer)
        if len(answers) == 1:
            await bus.publish(
                OrderUpdateEvent.create(
                    SRC, OrderUpdate(client_order_id=client_order_id, status=S.CANCELED)
                )
            )
        return answer

    venue.query_order = answered_then_reported  # type: ignore[method-assign]
    found = await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    assert len(answers) == 2
    [mismatch] = [r for r in found if r.client_order_id == cid]
    assert mismatch.venue_order is not None
    assert "re-opened" in mismatch.detail
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.NEW
    assert engine.anomalies.counts[AnomalyKind.REOPENED] == 1
    # In the journal the re-opening comes after the report it was checked against.
    entries = await bus.read(bus.layout.exec("scripted", "main"))
    mine = [e.event for e in entries if e.ok and belongs(e.event, cid)]  # type: ignore[arg-type]
    assert isinstance(mine[-1], ReconcileEvent)
    assert isinstance(mine[-2], OrderUpdateEvent)
    assert mine[-2].payload.status is S.CANCELED
    await rebuilt_alike(bus, engine, cid)


async def test_a_report_after_every_answer_is_said_not_reopened(new_bus: NewBus) -> None:
    """Each of the venue's answers is followed by a report that ends the order (its
    CANCELED, heard again while it is asked): which came last is not known, so the order
    is not re-opened, and the reconcile says so (what the venue listed, why, and that
    the next reconcile asks again); nothing is said re-opened. (Fills after every answer
    are no reason: tests/unit/test_reopen_reports.py.)"""
    bus = await new_bus()
    engine, venue, cid = await overfilled_order(bus)
    asked = venue.query_order
    answers = 0

    async def answered_then_ended(client_order_id: str) -> VenueOrder | None:
        nonlocal answers
        answer = await asked(client_order_id)
        answers += 1
        await bus.publish(cancelled(client_order_id))
        return answer

    venue.query_order = answered_then_ended  # type: ignore[method-assign]
    found = await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    [said] = [r for r in found if r.client_order_id == cid]
    assert said.kind is ReconcileKind.STATUS_MISMATCH
    assert said.venue_order is None  # nothing for the OMS to take
    assert said.venue == "NEW 0/2"
    assert "not re-opened" in said.detail
    assert "next reconcile asks again" in said.detail
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.FILLED
    assert engine.anomalies.counts[AnomalyKind.REOPENED] == 0
    assert answers == recovery.REOPEN_ASKS
    await rebuilt_alike(bus, engine, cid)
