"""A restart from a snapshot holds the order of each instrument's last fill, as the live
engine did: let go, the next snapshot lacked its fill and a restart from it booked the
fill again when the venue listed it (found by a review of c1c4b56)."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.brokers.base import ReconcileReport
from silvertine_tui.domain import Fill, OrderStatus, OrderUpdate, Side
from silvertine_tui.engine.recovery import reconcile, write_snapshot
from silvertine_tui.events import ReconcileKind
from tests.fakes.scripted_venue import INSTRUMENT
from tests.integration.test_engine_id_bound import (
    ACCOUNT,
    T0,
    id_at,
    order,
    place_and_cancel,
    start,
    sync,
)


async def test_a_restart_holds_the_order_of_the_last_fill() -> None:
    bus, engine, venue = await start()
    a = id_at(T0)
    await engine.submit(order(a))
    await sync(engine)
    fill = Fill(
        exec_id="EX-A",
        client_order_id=a,
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        quantity=D(1),
        price=D("10.00"),
        venue_ts_ns=5_000_000_000,
    )
    await venue.publish_fill(fill)
    await venue.publish_update(
        OrderUpdate(
            client_order_id=a, status=OrderStatus.FILLED, filled_qty=D(1), avg_price=D("10.00")
        )
    )
    await sync(engine)
    await place_and_cancel(engine, [id_at(T0 + 1000 * i) for i in range(1, 5)])
    assert a in engine.oms.orders  # held in the live engine
    await write_snapshot(engine, *ACCOUNT)

    bus, r1, _ = await start(bus)
    await place_and_cancel(r1, [id_at(T0 + 1000 * i) for i in range(5, 6)])
    await write_snapshot(r1, *ACCOUNT)

    bus, r2, venue2 = await start(bus)
    report = ReconcileReport(broker="scripted", account="main", as_of_ns=0, fills=(fill,))
    found = await reconcile(r2, venue2, report)
    await sync(r2)
    assert not [x for x in found if x.kind is ReconcileKind.MISSED_FILL]
