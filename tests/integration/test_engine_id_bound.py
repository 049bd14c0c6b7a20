"""An order id is never reused, across restarts from a snapshot too.

Finished orders leave memory (the window) and snapshots list only what is in memory;
what a snapshot keeps of the other ids is a bound (`TradingEngine.id_bound`): the
latest mint time among the evicted ids of our format, and the evicted ids of other
forms listed. A restart from it refuses them all.
"""

from __future__ import annotations

import json
import secrets
import time
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    VenueOrder,
    minted_ms,
    new_client_order_id,
)
from silvertine_tui.engine.commands import Accepted, EngineGateway, PlaceOrder, Refused
from silvertine_tui.engine.core import MINT_SKEW_MS, DuplicateOrderId, StaleOrderId, TradingEngine
from silvertine_tui.engine.oms import FinishedWindow, Outcome
from silvertine_tui.engine.recovery import recover, replay_stream, write_snapshot
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import (
    OrderRequestEvent,
    OrderUpdateEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
    RiskAction,
    RiskEvent,
    SnapshotEvent,
)
from silvertine_tui.events.codec import encode
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue

WINDOW = FinishedWindow(orders=3, histories=1)
ACCOUNT = ("scripted", "main")
T0 = 1_780_000_000_000  # 2026-05-28, ms: the mint time of the first test id
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def b36(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, r = divmod(n, 36)
        out = B36[r] + out
    return out


def id_at(ms: int, prefix: str = "st") -> str:
    """An id of our format minted at `ms` (as `new_client_order_id` then)."""
    return f"{prefix}{b36(ms, 8)}{b36(secrets.randbits(50), 10)}"


def order(cid: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("1"),
        limit_price=D("10.00"),
    )


async def start(bus: MemoryBus | None = None) -> tuple[MemoryBus, TradingEngine, ScriptedVenue]:
    """An engine on `bus` (a new one when None), recovered from what it holds."""
    if bus is None:
        bus = MemoryBus()
        await bus.start()
    venue = ScriptedVenue.build(bus)
    engine = TradingEngine(bus, [venue], RiskConfig(), window=WINDOW)
    await recover(engine, [ACCOUNT])
    await venue.connect()
    await engine.load_instruments()
    return bus, engine, venue


async def sync(engine: TradingEngine) -> None:
    await replay_stream(engine, engine.bus.layout.exec(*ACCOUNT))
    await replay_stream(engine, engine.bus.layout.risk)


async def place_and_cancel(engine: TradingEngine, ids: list[str]) -> None:
    for cid in ids:
        await engine.submit(order(cid))
        await sync(engine)
        await engine.cancel(cid)
        await sync(engine)


async def rejects(bus: MemoryBus) -> list[tuple[str, str]]:
    return [
        (e.event.payload.rule, e.event.payload.client_order_id)
        for e in await bus.read(bus.layout.risk)
        if isinstance(e.event, RiskEvent) and e.event.payload.action is RiskAction.REJECT
    ]


async def test_an_id_evicted_before_the_snapshot_is_refused_after_a_restart() -> None:
    bus, engine, venue = await start()
    ids = [id_at(T0 + i * 1000) for i in range(8)]
    await place_and_cancel(engine, ids)
    evicted = [cid for cid in ids if cid in engine.oms.retired]
    assert evicted == ids[:5]  # three finished orders stay in memory
    await write_snapshot(engine, *ACCOUNT)
    snapshot = await latest_snapshot(bus, *ACCOUNT)
    assert snapshot is not None
    assert snapshot.ids_minted_to_ms == T0 + 4000  # the newest evicted id's mint time
    assert snapshot.other_used_ids == ()
    assert {o.client_order_id for o in snapshot.orders} == set(ids[5:])

    # Two restarts: the second from a snapshot the restarted engine wrote (the bound is
    # carried on). Ids refused once are in the risk journal: refused as reused after.
    refused_before: list[str] = []
    for tried in (evicted[:2], evicted[2:]):
        _, fresh, venue = await start(bus)
        assert fresh.id_floor_ms == T0 + 4000
        assert not fresh.oms.known(ids[0])  # not in memory, nor listed: only bounded
        for cid in tried:
            with pytest.raises(StaleOrderId) as caught:
                await fresh.submit(order(cid))
            assert isinstance(caught.value, RiskRejected)  # shown like a risk reject
            (violation,) = caught.value.violations
            assert (violation.rule, violation.field) == ("stale_id", "client_order_id")
            assert f"client_order_id {cid} is older than the journal's last snapshot" in str(
                caught.value
            )
            assert "2026-05-28" in str(caught.value)
            assert "mint a new id" in str(caught.value)
        for cid in [*ids[5:], *refused_before]:  # known: refused as reused
            with pytest.raises(DuplicateOrderId):
                await fresh.submit(order(cid))
        assert venue.sent == []  # nothing reached the venue
        await sync(fresh)
        assert [r for r in await rejects(bus) if r[0] == "stale_id"][-len(tried) :] == [
            ("stale_id", cid) for cid in tried
        ]
        await write_snapshot(fresh, *ACCOUNT)
        refused_before += tried

    fresh_id = new_client_order_id()
    assert await fresh.submit(order(fresh_id)) == fresh_id
    assert venue.sent == [fresh_id]


async def test_ids_of_other_forms_evicted_before_the_snapshot_are_listed_and_refused() -> None:
    bus, engine, _ = await start()
    ids = [f"algo-{i}" for i in range(6)]
    await place_and_cancel(engine, ids)
    await write_snapshot(engine, *ACCOUNT)
    snapshot = await latest_snapshot(bus, *ACCOUNT)
    assert snapshot is not None
    assert snapshot.ids_minted_to_ms is None  # none of our format: no bound
    assert snapshot.other_used_ids == tuple(sorted(ids[:3]))

    _, fresh, venue = await start(bus)
    for cid in ids:
        with pytest.raises(DuplicateOrderId):
            await fresh.submit(order(cid))
    assert venue.sent == []
    old_ours = id_at(T0)  # no bound: any id of our format not known is new
    await fresh.submit(order("algo-new"))
    await fresh.submit(order(old_ours))
    assert venue.sent == ["algo-new", old_ours]


async def test_a_snapshot_written_without_the_bound_still_loads() -> None:
    """Snapshots written before the bound existed: no bound, as before."""
    bus, engine, _ = await start()
    ids = [id_at(T0 + i) for i in range(5)]
    await place_and_cancel(engine, ids)
    snapshot = await latest_snapshot(bus, *ACCOUNT)
    assert snapshot is None
    await write_snapshot(engine, *ACCOUNT)
    written = await latest_snapshot(bus, *ACCOUNT)
    assert written is not None
    wire = dict(encode(SnapshotEvent.create("scripted/main", written)))
    body = json.loads(wire[b"p"])
    assert body.pop("ids_minted_to_ms") == T0 + 1
    assert body.pop("other_used_ids") == []
    wire[b"p"] = json.dumps(body).encode()
    bus.append_raw(bus.layout.snap(*ACCOUNT), wire)

    _, fresh, venue = await start(bus)
    assert fresh.id_floor_ms is None
    assert {v.client_order_id for v in fresh.oms.orders.values()} == set(ids[2:])
    for cid in ids[2:]:
        with pytest.raises(DuplicateOrderId):
            await fresh.submit(order(cid))
    # What it does not list is not refused (the gap the bound closes).
    await fresh.submit(order(ids[0]))
    assert venue.sent == [ids[0]]


async def test_without_a_snapshot_the_replay_relearns_every_evicted_id() -> None:
    bus, engine, _ = await start()
    ids = [id_at(T0 + i) for i in range(6)] + ["algo-1", "algo-2"]
    await place_and_cancel(engine, ids)

    _, fresh, venue = await start(bus)
    assert fresh.id_floor_ms is None
    assert set(ids[:5]) <= set(fresh.oms.retired)  # evicted again while replaying
    for cid in ids:
        with pytest.raises(DuplicateOrderId):
            await fresh.submit(order(cid))
    assert venue.sent == []


def test_minted_ms_reads_the_time_new_client_order_id_wrote() -> None:
    for prefix in ("st", "", "desk-7_"):
        cid = new_client_order_id(prefix)
        minted = minted_ms(cid)
        assert minted is not None
        assert abs(minted - time.time_ns() // 1_000_000) < 60_000
    for other in ("c-1", "", "ST0123456789ABCDEFGH", "0123456789abcdefg", "x_0123456789abcdef-h"):
        assert minted_ms(other) is None


@given(
    ms=st.integers(min_value=0, max_value=36**8 - 1),
    prefix=st.text(alphabet="abcxyz-_.:/ABC0123", max_size=10),
)
def test_minted_ms_round_trip(ms: int, prefix: str) -> None:
    assert minted_ms(id_at(ms, prefix)) == ms


def engine_alone(window: FinishedWindow = WINDOW) -> TradingEngine:
    return TradingEngine(MemoryBus(), [], RiskConfig(), window=window)


@given(
    floor=st.integers(min_value=1, max_value=36**8 - 2),
    offset=st.integers(min_value=-(10**9), max_value=10**9),
)
def test_an_id_minted_at_or_before_the_bound_is_refused_after_it_accepted(
    floor: int, offset: int
) -> None:
    engine = engine_alone()
    engine.load_id_bound(floor, ())
    minted = min(max(floor + offset, 0), 36**8 - 1)
    cid = id_at(minted)
    stale = engine.id_stale(cid)
    if minted <= floor:
        assert stale == minted
    else:
        assert stale is None
    assert not engine.id_used(cid)


def request_and_end(cid: str, n: int) -> list[tuple[OrderRequestEvent | OrderUpdateEvent, str]]:
    return [
        (OrderRequestEvent.create("engine", order(cid)), f"{2 * n + 1}-0"),
        (
            OrderUpdateEvent.create(
                "scripted/main", OrderUpdate(client_order_id=cid, status=OrderStatus.REJECTED)
            ),
            f"{2 * n + 2}-0",
        ),
    ]


ids = st.one_of(
    # ours, minted from long ago to far ahead of this clock (a skewed host)
    st.integers(min_value=0, max_value=36**8 - 1).map(id_at),
    st.text(alphabet="abc-_.0123ABC", min_size=1, max_size=24),  # other forms
)


@settings(max_examples=60, deadline=None)
@given(used=st.lists(ids, min_size=1, max_size=30, unique=True), keep=st.integers(0, 5))
def test_every_evicted_id_is_refused_by_an_engine_loaded_with_the_bound(
    used: list[str], keep: int
) -> None:
    engine = engine_alone(FinishedWindow(orders=keep, histories=0))
    for n, cid in enumerate(used):
        for event, entry_id in request_and_end(cid, n):
            engine.apply(event, entry_id)
    evicted = list(engine.oms.retired)
    assert len(evicted) == max(len(used) - keep, 0)
    bound, others = engine.id_bound()

    fresh = engine_alone()
    fresh.load_id_bound(bound, others)
    for cid in evicted:
        assert fresh.id_used(cid) or fresh.id_stale(cid) is not None
    # The bound only comes from ids seen, and never lies far ahead of this clock.
    if bound is not None:
        assert bound <= time.time_ns() // 1_000_000 + MINT_SKEW_MS
        assert bound in {minted_ms(c) for c in evicted}
    # Ids in memory are not listed: the snapshot carries their orders.
    assert set(others) <= set(evicted)


async def test_the_command_interface_refuses_a_stale_id_naming_the_field() -> None:
    bus, engine, _ = await start()
    ids = [id_at(T0 + i) for i in range(5)]
    await place_and_cancel(engine, ids)
    await write_snapshot(engine, *ACCOUNT)

    _, fresh, venue = await start(bus)
    outcome = await EngineGateway(fresh).send(PlaceOrder(request=order(ids[0])))
    assert isinstance(outcome, Refused)
    assert outcome.source == "risk"
    (problem,) = outcome.problems
    assert (problem.field, problem.rule) == ("client_order_id", "stale_id")
    assert problem.message.startswith(f"client_order_id {ids[0]} is older than")
    assert venue.sent == []
    fresh_id = new_client_order_id()
    outcome = await EngineGateway(fresh).send(PlaceOrder(request=order(fresh_id)))
    assert isinstance(outcome, Accepted)
    assert venue.sent == [fresh_id]


async def test_the_bound_is_engine_wide_and_the_highest_of_all_snapshots_holds() -> None:
    """Ids are unique across accounts: every account's snapshot carries the bound over
    all evicted ids, and a restart takes the highest it loads."""
    bus = MemoryBus()
    await bus.start()
    accounts = [("scripted", "main"), ("other", "main")]

    async def engine_on(bus: MemoryBus) -> tuple[TradingEngine, ScriptedVenue]:
        venues = [ScriptedVenue.build(bus, name, account) for name, account in accounts]
        engine = TradingEngine(bus, venues, RiskConfig(), window=WINDOW)
        await recover(engine, accounts)
        for venue in venues:
            await venue.connect()
        await engine.load_instruments()
        return engine, venues[1]

    engine, _ = await engine_on(bus)
    working = order(id_at(T0 + 50)).model_copy(update={"broker": "other"})
    await engine.submit(working)  # the other account's only order: it stays working
    await replay_stream(engine, bus.layout.exec("other", "main"))
    ids = [id_at(T0 + i) for i in range(5)]
    await place_and_cancel(engine, ids)  # on scripted/main
    assert set(ids[:2]) <= set(engine.oms.retired)
    await write_snapshot(engine, "scripted", "main")
    await place_and_cancel(engine, [id_at(T0 + 100)])  # evicts ids[2]: after that snapshot
    # The other account's snapshot is the one newer than the eviction of ids[2]: it
    # holds no order of the first account, yet bounds its ids.
    await write_snapshot(engine, "other", "main")
    other = await latest_snapshot(bus, "other", "main")
    assert other is not None
    assert [o.client_order_id for o in other.orders] == [working.client_order_id]
    assert other.ids_minted_to_ms == T0 + 2
    first = await latest_snapshot(bus, "scripted", "main")
    assert first is not None
    assert first.ids_minted_to_ms == T0 + 1

    fresh, other_venue = await engine_on(bus)
    assert fresh.id_floor_ms == T0 + 2  # the highest loaded
    for cid in (ids[0], id_at(T0 + 2)):
        with pytest.raises(StaleOrderId):
            await fresh.submit(order(cid).model_copy(update={"broker": "other"}))
    with pytest.raises(DuplicateOrderId):  # evicted again replaying the first journal
        await fresh.submit(order(ids[2]))
    assert other_venue.sent == []


@pytest.mark.parametrize("form", ["ours", "other"])
async def test_a_late_report_of_an_order_evicted_before_the_snapshot_is_evicted_after_a_restart(
    form: str,
) -> None:
    """The live desk counts a late report of an evicted order and drops it; restarted
    from a snapshot (which does not list the order) it was parked for a request that
    never comes and said as an order the journal does not know (placed elsewhere?).
    The snapshot's id bound names it evicted: the same outcome as live. Nor is it
    adopted when a reconcile finds it open at the venue."""
    bus, engine, _ = await start()
    ids = [id_at(T0 + i * 1000) if form == "ours" else f"algo-{i}" for i in range(5)]
    await place_and_cancel(engine, ids)
    assert ids[0] in engine.oms.retired
    await write_snapshot(engine, *ACCOUNT)
    await bus.publish(
        OrderUpdateEvent.create(
            "scripted/main",
            OrderUpdate(client_order_id=ids[0], status=OrderStatus.CANCELED, reason="late"),
        )
    )
    await sync(engine)
    assert engine.oms.counters[Outcome.EVICTED] == 1
    assert engine.oms.parked_count() == 0

    _, fresh, _ = await start(bus)
    assert not fresh.oms.known(ids[0])
    assert fresh.oms.parked_count() == 0
    assert fresh.anomalies.replayed.get("unknown_order", 0) == 0
    assert fresh.oms.counters[Outcome.EVICTED] == 1
    adopted = await bus.publish(
        ReconcileEvent.create(
            "scripted/main",
            Reconcile(
                kind=ReconcileKind.VENUE_ORDER_UNKNOWN,
                client_order_id=ids[0],
                venue_order=VenueOrder(
                    client_order_id=ids[0],
                    venue_order_id="v-0",
                    instrument=INSTRUMENT.key,
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=D("1"),
                    limit_price=D("10.00"),
                    status=OrderStatus.NEW,
                ),
            ),
        )
    )
    assert adopted
    await sync(fresh)
    assert fresh.oms.get(ids[0]) is None


@pytest.mark.parametrize(
    "foreign",
    [
        "FOREIGN-ours",  # another desk's id of our format, minted before the bound
        "web_0a1b2c3d4e5f60718293a4b5c6d7e8f9",  # another program's: reads as minted 1987
    ],
)
async def test_an_order_of_another_program_open_at_the_venue_is_adopted_after_a_restart(
    foreign: str,
) -> None:
    """Only the ids the snapshot names as evicted are taken for evicted ones: read off
    the id bound (any id of our format minted before it), an order another desk or
    program placed, open at the venue, was journaled adopted and never shown."""
    if foreign == "FOREIGN-ours":
        foreign = id_at(T0 - 60_000, prefix="desk2-")
    bus, engine, _ = await start()
    await place_and_cancel(engine, [id_at(T0 + i * 1000) for i in range(5)])
    await write_snapshot(engine, *ACCOUNT)
    _, fresh, _ = await start(bus)
    assert fresh.id_floor_ms is not None
    minted = minted_ms(foreign)
    assert minted is not None
    assert minted <= fresh.id_floor_ms  # under the bound: not one to re-send
    await bus.publish(
        ReconcileEvent.create(
            "scripted/main",
            Reconcile(
                kind=ReconcileKind.VENUE_ORDER_UNKNOWN,
                client_order_id=foreign,
                venue_order=VenueOrder(
                    client_order_id=foreign,
                    venue_order_id="v-x",
                    instrument=INSTRUMENT.key,
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=D("1"),
                    limit_price=D("10.00"),
                    status=OrderStatus.NEW,
                ),
            ),
        )
    )
    await sync(fresh)
    adopted = fresh.oms.get(foreign)
    assert adopted is not None
    assert adopted.adopted
    assert [v.client_order_id for v in fresh.oms.working(*ACCOUNT)] == [foreign]
