"""A venue that stamps fills coarsely (IB: to the second) reports again, to a reconcile
asking from the journal's last fill, every fill at that fill's time. The journal knows
them by exec id; a desk restarted from a snapshot must know them too, or it books such a
fill a second time (another program's order, or one of ours the order window let go:
their exec ids are in no order the snapshot lists)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from ib_async import LimitOrder, Stock

from silvertine_tui.brokers.base import ReconcileReport
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import (
    reconcile,
    reconcile_broker,
    recover,
    replay_stream,
    write_snapshot,
)
from silvertine_tui.events import FillEvent, ReconcileKind
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue, scripted_fill
from tests.fakes.tws import FakeTws
from tests.fakes.tws.client import ib_client, until
from tests.support.ib import fills
from tests.unit.test_ib_cancel_everything import engine_for, sync
from tests.unit.test_ib_execution_correction import bought, engine_desk

SECOND = 1_000_000_000


async def test_a_restarted_desk_does_not_book_again_a_fill_made_in_the_last_fill_s_second() -> None:
    """Another program's order fills 2 then 3 in the second of the desk's last fill; a
    snapshot, a restart from it, a reconcile: TWS lists the 2 again (same second as the
    last fill) and the desk knows it (before: journaled a second time, 10 shares booked
    against TWS's 8, a position mismatch)."""
    async with FakeTws() as fake, engine_desk(fake) as (d, bus):
        # Every execution in one second, after the journal began (a reconcile asks
        # TWS from then).
        moment = datetime.now(UTC).replace(microsecond=100_000) + timedelta(seconds=1)
        fake.exchange.clock = lambda: moment
        await bought(d)
        engine = await engine_for(d)
        async with ib_client(fake, client_id=9) as other:
            [aapl] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
            order = LimitOrder("BUY", 5, 149.0, orderRef="other-program", account=fake.account)
            trade = other.placeOrder(aapl, order)
            await until(other, lambda: trade.orderStatus.status == "Submitted")
        [theirs] = [o for o in fake.orders if o.perm_id == trade.order.permId]
        first = await fake.fill(theirs.order_id, qty="2", client_id=9)
        second = await fake.fill(theirs.order_id, qty="3", client_id=9)
        await reconcile_broker(engine, d.broker)
        await sync(engine, bus)
        await write_snapshot(engine, "ib", fake.account)

        restarted = TradingEngine(bus, [d.broker], RiskConfig())
        await restarted.load_instruments()
        await recover(restarted, [("ib", fake.account)])
        found = await reconcile_broker(restarted, d.broker)
        await sync(restarted, bus)

        journaled = [f.exec_id for f in fills(await d.events())]
        assert journaled[1:] == [first.exec_id, second.exec_id]
        assert [r.kind for r in found] == []
        state = restarted.portfolio.positions[("ib", fake.account, "AAPL.SMART")]
        assert state.quantity == 8
        assert not restarted.anomalies.counts


def _fill(n: int, instrument: str, second: int) -> FillEvent:
    event = scripted_fill(n, instrument=instrument)
    stamped = event.payload.model_copy(update={"venue_ts_ns": second * SECOND})
    return FillEvent.create(event.source, stamped)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([INSTRUMENT.key, "OTHER.SCRIPTED"]), st.integers(1, 3)),
        min_size=1,
        max_size=20,
    )
)
def test_every_fill_a_coarse_venue_reports_again_is_known_after_a_restart(
    made: list[tuple[str, int]],
) -> None:
    """Fills of orders the journal does not hold, in two instruments, at venue times a
    few seconds apart in any order: after a snapshot and a restart from it, a reconcile
    listing every fill at or after each instrument's last fill's time finds no fill
    missed (each one the venue reports again was journaled)."""

    async def run() -> None:
        bus = MemoryBus()
        await bus.start()
        venue = ScriptedVenue.build(bus)
        await venue.connect()
        live = TradingEngine(bus, [venue], RiskConfig())
        await live.load_instruments()
        events = [_fill(n, instrument, second) for n, (instrument, second) in enumerate(made)]
        for event in events:
            await bus.publish(event)
        await replay_stream(live, bus.layout.exec("scripted", "main"))
        await write_snapshot(live, "scripted", "main")

        restarted = TradingEngine(bus, [venue], RiskConfig())
        await recover(restarted, [("scripted", "main")])
        last = restarted.portfolio.last_fills[("scripted", "main")]
        again = tuple(
            e.payload
            for e in events
            if e.payload.exec_id != last[e.payload.instrument].exec_id
            and e.payload.venue_ts_ns is not None
            and e.payload.venue_ts_ns >= (last[e.payload.instrument].venue_ts_ns or 0)
        )
        report = ReconcileReport(broker="scripted", account="main", as_of_ns=0, fills=again)
        found = await reconcile(restarted, venue, report)
        assert [r for r in found if r.kind is ReconcileKind.MISSED_FILL] == []
        assert AnomalyKind.UNKNOWN_ORDER not in restarted.anomalies.counts
        await bus.close()

    asyncio.run(run())
