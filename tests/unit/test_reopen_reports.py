"""Which reports of an order between the venue's answer and the re-opening's write
have the venue asked again (`recovery._reopen`, `_write_in_order`).

The review finding: the reconcile gave up re-opening an order (`NOT_REOPENED`,
"a report of it reached the journal after each of the venue's 3 answers") when *any*
report of it followed each answer. A busy order, a working order filling in pieces
while the venue lists it open, then stayed ended on the desk (out of the working list,
`c` refused) until the next reconcile, though its partial fills neither end it nor
contradict the venue's "open".

Now, for an order in memory, only a report the venue's answer may not hold has the
venue asked again: one that ends the order (FILLED, CANCELED, REJECTED, EXPIRED) or
brings other terms (venue order id, quantity, prices, trigger). Its fills, its
acknowledgements and its partial statuses are written before the re-opening, and the
order counts the fills (`Order.reopen` keeps them), live and rebuilt from the journal
alike. An order out of memory (`OMS._take_again`) is taken at the answer's count and
the OMS drops its reports: any report of it still has the venue asked again.
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
from silvertine_tui.domain import FeeCorrection, Fill, OrderStatus, OrderUpdate, Side, VenueOrder
from silvertine_tui.engine import recovery
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import FinishedWindow
from silvertine_tui.engine.order_history import belongs
from silvertine_tui.engine.recovery import catch_up, reconcile_broker, recover
from silvertine_tui.events import (
    FeeCorrectionEvent,
    FillEvent,
    OrderUpdateEvent,
    ReconcileEvent,
    ReconcileKind,
)
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.integration.test_overfill_reconcile import SRC, buy
from tests.support.redis_server import RedisServer

S = OrderStatus
ACCOUNT = [("scripted", "main")]
KEY = ("scripted", "main", INSTRUMENT.key)

NewBus = Callable[[], Awaitable[EventBus]]


@pytest.fixture(params=["memory", "redis"])
async def new_bus(request: pytest.FixtureRequest) -> AsyncIterator[NewBus]:
    """A fresh journal each call: a memory bus, or this test session's Redis under a
    prefix of its own (every read and write there yields to the event loop)."""
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


def engine_on(bus: EventBus, venue: ScriptedVenue, orders: int = 1_000) -> TradingEngine:
    return TradingEngine(bus, [venue], RiskConfig(), window=FinishedWindow(orders=orders))


def update(cid: str, status: OrderStatus, **fields: object) -> OrderUpdateEvent:
    return OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=cid, status=status, **fields))


def piece(cid: str, exec_id: str, qty: str = "1") -> FillEvent:
    return FillEvent.create(
        SRC,
        Fill(
            exec_id=exec_id,
            client_order_id=cid,
            broker="scripted",
            account="main",
            instrument=INSTRUMENT.key,
            side=Side.BUY,
            quantity=D(qty),
            price=D("10.00"),
            fee=D("0.01"),
            fee_currency="USD",
        ),
    )


async def ended_here_wrongly(
    bus: EventBus, qty: str = "10"
) -> tuple[TradingEngine, ScriptedVenue, str]:
    """BUY `qty` @ 10.00 placed and acknowledged; a CANCELED of it reached the journal
    (a status the venue took back) while the venue still works it: ended here, open
    there. The venue's position is what the journal holds (nothing filled yet)."""
    venue = ScriptedVenue.build(bus)
    engine = engine_on(bus, venue)
    await venue.connect()
    await engine.load_instruments()
    cid = await engine.submit(buy(qty))
    await catch_up(engine, SRC)
    await bus.publish(update(cid, S.CANCELED, reason="a status the venue took back"))
    await catch_up(engine, SRC)
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.CANCELED
    assert cid in venue.venue_orders
    return engine, venue, cid


async def venue_fills_a_piece(bus: EventBus, venue: ScriptedVenue, cid: str, exec_id: str) -> None:
    """The venue fills 1 more of the order: its own count moves, and the adapter
    journals the fill, then the venue's PARTIALLY_FILLED with the cumulative count
    (and, as TWS does, the fill's commission right after it)."""
    held = venue.venue_orders[cid]
    filled = held.filled_qty + 1
    venue.venue_orders[cid] = held.model_copy(
        update={"filled_qty": filled, "status": S.PARTIALLY_FILLED, "avg_price": D("10.00")}
    )
    await bus.publish(piece(cid, exec_id))
    await bus.publish(
        FeeCorrectionEvent.create(
            SRC,
            FeeCorrection(
                exec_id=exec_id,
                client_order_id=cid,
                broker="scripted",
                account="main",
                instrument=INSTRUMENT.key,
                fee=D("0.02"),
                fee_currency="USD",
                previous_fee=D("0.01"),
                previous_currency="USD",
            ),
        )
    )
    await bus.publish(
        update(
            cid,
            S.PARTIALLY_FILLED,
            venue_order_id=held.venue_order_id,
            filled_qty=filled,
            avg_price=D("10.00"),
        )
    )


async def rebuilt_alike(
    bus: EventBus, engine: TradingEngine, cid: str, orders: int = 1_000
) -> None:
    """A desk rebuilt from the journal alone holds the order and the position as the
    live one does."""
    fresh = engine_on(bus, ScriptedVenue.build(bus), orders)
    await recover(fresh, ACCOUNT)
    live, again = engine.oms.get(cid), fresh.oms.get(cid)
    assert live is not None
    assert again is not None
    assert again.order.model_dump() == live.order.model_dump()
    assert [v.client_order_id for v in fresh.oms.working()] == [
        v.client_order_id for v in engine.oms.working()
    ]
    held = engine.portfolio.positions.get(KEY)
    rebuilt = fresh.portfolio.positions.get(KEY)
    assert (rebuilt.quantity if rebuilt else None) == (held.quantity if held else None)


async def order_events(bus: EventBus, cid: str) -> list[object]:
    entries = await bus.read(bus.layout.exec("scripted", "main"))
    return [e.event for e in entries if e.ok and belongs(e.event, cid)]  # type: ignore[arg-type]


# -- the finding: a busy order --------------------------------------------------------


async def test_a_busy_order_is_reopened_with_the_pieces_filled_meanwhile(new_bus: NewBus) -> None:
    """The repro: the venue fills a piece of the order after each of its answers (a
    fill, its commission, a PARTIALLY_FILLED). Before: asked 3 times, "not re-opened",
    the order CANCELED here while the venue worked it. Now: re-opened on the first
    answer, after the piece, which the order counts; a replay ends the same."""
    bus = await new_bus()
    engine, venue, cid = await ended_here_wrongly(bus)
    asked = venue.query_order
    answers: list[VenueOrder | None] = []

    async def answered_then_filled(client_order_id: str) -> VenueOrder | None:
        answer = await asked(client_order_id)
        answers.append(answer)
        await venue_fills_a_piece(bus, venue, client_order_id, f"p-{len(answers)}")
        return answer

    venue.query_order = answered_then_filled  # type: ignore[method-assign]
    # (the venue's position, listed before it is asked, holds the piece it fills
    # while asked: a listing older than a fill is the reconcile's position step's own)
    venue.venue_positions[INSTRUMENT.key] = D(1)
    found = await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)

    assert len(answers) == 1, f"asked {len(answers)} times"
    [mismatch] = [r for r in found if r.client_order_id == cid]
    assert mismatch.venue_order is not None, mismatch.detail
    assert "re-opened" in mismatch.detail
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.PARTIALLY_FILLED
    assert (view.order.filled_qty, view.order.exec_ids) == (D(1), {"p-1"})
    assert view.order.fees == {"USD": D("0.02")}
    assert [v.client_order_id for v in engine.oms.working()] == [cid]
    assert engine.anomalies.counts[AnomalyKind.REOPENED] == 1
    assert engine.portfolio.positions[KEY].quantity == 1
    # The journal: the piece, then the re-opening written after everything checked.
    mine = await order_events(bus, cid)
    assert isinstance(mine[-1], ReconcileEvent)
    assert [type(e) for e in mine[-4:-1]] == [FillEvent, FeeCorrectionEvent, OrderUpdateEvent]
    await rebuilt_alike(bus, engine, cid)
    # It keeps filling, and ends on the venue's FILLED.
    for n in range(2, 11):
        await venue_fills_a_piece(bus, venue, cid, f"p-{n}")
    await bus.publish(update(cid, S.FILLED, filled_qty=D(10)))
    await catch_up(engine, SRC)
    assert (view.order.status, view.order.filled_qty) == (S.FILLED, D(10))
    await rebuilt_alike(bus, engine, cid)


async def test_an_acknowledgement_after_the_answer_asks_nothing_more(new_bus: NewBus) -> None:
    """A NEW of the order (a late acknowledgement, as the venue holds it) after the
    answer: the venue is not asked again; the re-opening is written after it."""
    bus = await new_bus()
    engine, venue, cid = await ended_here_wrongly(bus)
    asked = venue.query_order
    answers: list[VenueOrder | None] = []

    async def answered_then_acked(client_order_id: str) -> VenueOrder | None:
        answer = await asked(client_order_id)
        answers.append(answer)
        assert answer is not None
        await bus.publish(update(client_order_id, S.NEW, venue_order_id=answer.venue_order_id))
        return answer

    venue.query_order = answered_then_acked  # type: ignore[method-assign]
    await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    assert len(answers) == 1
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.NEW
    mine = await order_events(bus, cid)
    assert isinstance(mine[-1], ReconcileEvent)
    assert isinstance(mine[-2], OrderUpdateEvent)
    await rebuilt_alike(bus, engine, cid)


YIELDS = range(0, 13)


async def test_pieces_landing_anywhere_in_the_reopen_are_all_counted(new_bus: NewBus) -> None:
    """The venue answers "open"; another task (the adapter's user stream) journals a
    piece of the order after `k` turns of the event loop: while the answer is checked,
    between the check and the write, or after the re-opening. Wherever it lands the
    order is re-opened once, counts the piece, and a desk rebuilt from the journal
    alone ends the same."""
    for k in YIELDS:
        bus = await new_bus()
        engine, venue, cid = await ended_here_wrongly(bus)
        asked = venue.query_order
        writers: list[asyncio.Task[None]] = []

        async def fill_later(
            client_order_id: str, turns: int, bus: EventBus = bus, venue: ScriptedVenue = venue
        ) -> None:
            for _ in range(turns):
                await asyncio.sleep(0)
            await venue_fills_a_piece(bus, venue, client_order_id, "p-1")

        async def answered(
            client_order_id: str,
            asked: Callable[[str], Awaitable[VenueOrder | None]] = asked,
            k: int = k,
            writers: list[asyncio.Task[None]] = writers,
        ) -> VenueOrder | None:
            answer = await asked(client_order_id)
            if not writers:
                writers.append(asyncio.create_task(fill_later(client_order_id, k)))
            return answer

        venue.query_order = answered  # type: ignore[method-assign]
        venue.venue_positions[INSTRUMENT.key] = D(1)  # (as above)
        found = await reconcile_broker(engine, venue)
        await asyncio.gather(*writers)
        await catch_up(engine, SRC)
        view = engine.oms.get(cid)
        assert view is not None
        assert [r.venue_order is not None for r in found if r.client_order_id == cid] == [True], k
        assert (view.order.status, view.order.filled_qty) == (S.PARTIALLY_FILLED, D(1)), k
        assert engine.oms.working() == [view], k
        await rebuilt_alike(bus, engine, cid)


# -- what still has the venue asked again ----------------------------------------------


async def test_an_end_after_the_first_answer_has_the_venue_asked_again(new_bus: NewBus) -> None:
    """A CANCELED of the order (a late copy of the wrong end, the venue still working
    it) after the first answer: asked again, still open, re-opened after that end."""
    bus = await new_bus()
    engine, venue, cid = await ended_here_wrongly(bus)
    asked = venue.query_order
    answers: list[VenueOrder | None] = []

    async def answered_then_ended(client_order_id: str) -> VenueOrder | None:
        answer = await asked(client_order_id)
        answers.append(answer)
        if len(answers) == 1:
            await bus.publish(update(client_order_id, S.CANCELED, reason="a late copy"))
        return answer

    venue.query_order = answered_then_ended  # type: ignore[method-assign]
    await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    assert len(answers) == 2
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.NEW
    mine = await order_events(bus, cid)
    assert isinstance(mine[-1], ReconcileEvent)
    assert isinstance(mine[-2], OrderUpdateEvent)
    assert mine[-2].payload.status is S.CANCELED
    await rebuilt_alike(bus, engine, cid)


@pytest.mark.parametrize("status", [S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED])
async def test_an_end_after_every_answer_is_said_not_reopened(
    new_bus: NewBus, status: OrderStatus
) -> None:
    """An end of the order after each of the venue's answers (which still say open):
    which came last is not known, so nothing is re-opened, and the reconcile says so."""
    bus = await new_bus()
    engine, venue, cid = await ended_here_wrongly(bus)
    asked = venue.query_order
    answers = 0

    async def answered_then_ended(client_order_id: str) -> VenueOrder | None:
        nonlocal answers
        answer = await asked(client_order_id)
        answers += 1
        await bus.publish(update(client_order_id, status))
        return answer

    venue.query_order = answered_then_ended  # type: ignore[method-assign]
    found = await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    assert answers == recovery.REOPEN_ASKS
    [said] = [r for r in found if r.client_order_id == cid]
    assert said.kind is ReconcileKind.STATUS_MISMATCH
    assert said.venue_order is None
    assert "not re-opened" in said.detail
    assert "next reconcile asks again" in said.detail
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.CANCELED
    assert engine.oms.working() == []
    assert engine.anomalies.counts[AnomalyKind.REOPENED] == 0
    await rebuilt_alike(bus, engine, cid)


@pytest.mark.parametrize(
    "terms",
    [
        {"venue_order_id": "other"},
        {"limit_price": D("9.50")},
        {"quantity": D(8)},
        {"triggered": True},
    ],
    ids=["venue-id", "price", "quantity", "trigger"],
)
async def test_other_terms_after_the_answer_have_the_venue_asked_again(
    new_bus: NewBus, terms: dict[str, object]
) -> None:
    """A status report that brings terms the answer does not hold (another venue order,
    price or quantity, a trigger: the order moved at the venue after it answered):
    the re-opening would take the answer's older terms, so the venue is asked again."""
    bus = await new_bus()
    engine, venue, cid = await ended_here_wrongly(bus)
    asked = venue.query_order
    answers = 0

    async def answered_then_moved(client_order_id: str) -> VenueOrder | None:
        nonlocal answers
        answer = await asked(client_order_id)
        answers += 1
        if answers == 1:
            await bus.publish(update(client_order_id, S.NEW, **terms))
        return answer

    venue.query_order = answered_then_moved  # type: ignore[method-assign]
    await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    assert answers == 2
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.NEW
    await rebuilt_alike(bus, engine, cid)


async def test_a_fill_of_an_order_out_of_memory_still_has_the_venue_asked_again() -> None:
    """An order that left memory is taken at the answer's count and the OMS drops its
    reports (`EVICTED`): a piece filled after each answer still gives up, as before,
    rather than take a count that misses a fill the journal holds."""
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    engine = engine_on(bus, venue, orders=1)
    await venue.connect()
    await engine.load_instruments()
    cid = await engine.submit(buy("10"))
    await catch_up(engine, SRC)
    await bus.publish(update(cid, S.CANCELED, reason="a status the venue took back"))
    await catch_up(engine, SRC)
    for _ in range(2):  # two more orders finish after it: it leaves memory
        other = await engine.submit(buy("2"))
        await catch_up(engine, SRC)
        await engine.cancel(other)
        await catch_up(engine, SRC)
    assert engine.oms.get(cid) is None
    assert engine.oms.evicted_from(cid) == ("scripted", "main")
    asked = venue.query_order
    answers = 0

    async def answered_then_filled(client_order_id: str) -> VenueOrder | None:
        nonlocal answers
        answer = await asked(client_order_id)
        answers += 1
        await venue_fills_a_piece(bus, venue, client_order_id, f"p-{answers}")
        return answer

    venue.query_order = answered_then_filled  # type: ignore[method-assign]
    found = await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    assert answers == recovery.REOPEN_ASKS
    [said] = [r for r in found if r.client_order_id == cid]
    assert said.venue_order is None
    assert "not re-opened" in said.detail
    assert engine.oms.get(cid) is None
