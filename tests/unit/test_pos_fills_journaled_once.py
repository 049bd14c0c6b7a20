"""Every execution is journaled once, however a reconcile meets a burst of small fills.

A reviewer's IB EUR.USD buy of 20,000 filled at the fake TWS in about 1,900 pieces of
1-30; reconnects and reconciles ran while the fills came. The journal held 1,888 fills
for the order summing to 28,844 (filled 19,689): 588 exec ids twice. The adapter had
journaled those executions itself (from its catch-up after the reconnect, or live), and
the reconcile reported them again (`IBBroker.reconcile`: every execution after the
engine's last fill); the engine, whose reader had not applied them yet, took them for
fills it missed and journaled each a second time (`recovery.reconcile`, MISSED_FILL).
The OMS and the portfolio refuse a repeated exec id, but the journal's sum was wrong for
every reader of it, and each was said as a "fill made while we were away".
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus as S
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from silvertine_tui.events import ReconcileEvent, ReconcileKind
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, fills, shown, statuses

ACCOUNT = "DU123456"
KEY = ("ib", ACCOUNT, "AAPL.SMART")


async def engine_for(d: Desk) -> TradingEngine:
    """An engine over the desk's broker that has read the journal and reconciled, with
    no reader of its own: it applies only what a reconcile catches up with (a desk's
    reader behind the adapter's writes)."""
    engine = TradingEngine(d.bus, [d.broker], RiskConfig())
    await engine.load_instruments()
    await replay_stream(engine, d.stream)
    await reconcile_broker(engine, d.broker)
    await replay_stream(engine, d.stream)
    return engine


def kinds(events: Sequence[object]) -> list[ReconcileKind]:
    return [e.payload.kind for e in events if isinstance(e, ReconcileEvent)]


def venue_position(fake: FakeTws) -> D:
    return sum((p.quantity for p in fake.positions.values()), D(0))


async def test_fills_the_adapter_journaled_are_not_journaled_again_by_a_reconcile() -> None:
    """The adapter journals ten pieces of an order; the engine has not read them when a
    reconcile (a reconnect's) runs: none is journaled again, none said as missed."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="100", limit="149.50"))
        [order] = fake.orders
        await fake.fill(order.order_id, "1")
        await d.wait_journal(lambda ev: len(fills(ev, coid)) == 1, "the first fill")
        engine = await engine_for(d)
        for _ in range(10):
            await fake.fill(order.order_id, "3")
        await d.wait_journal(lambda ev: len(fills(ev, coid)) == 11, "eleven fills")

        found = await reconcile_broker(engine, d.broker)

        events = await d.events()
        journaled = [f.exec_id for f in fills(events, coid)]
        assert len(journaled) == 11, Counter(journaled).most_common(3)
        assert ReconcileKind.MISSED_FILL not in [r.kind for r in found]
        assert ReconcileKind.MISSED_FILL not in kinds(events)
        assert sum((f.quantity for f in fills(events, coid)), D(0)) == D(31)
        assert shown(events, coid).filled_qty == D(31)
        await replay_stream(engine, d.stream)
        assert engine.position(*KEY) == D(31) == venue_position(fake)
        assert not engine.anomalies.counts


async def _burst(pieces: list[int], at: int, engine_reads: bool) -> None:
    async with FakeTws(cash={"USD": "10000000"}) as fake, desk(fake) as d:
        total = sum(pieces)
        coid = await d.broker.place(d.request(qty=str(total), limit="149.50"))
        [order] = fake.orders
        engine = await engine_for(d)
        reconciling: asyncio.Task[object] | None = None
        for n, qty in enumerate(pieces):
            if n == at:
                if engine_reads:
                    await replay_stream(engine, d.stream)
                reconciling = asyncio.create_task(reconcile_broker(engine, d.broker))
            await fake.fill(order.order_id, str(qty))
        if reconciling is None:
            reconciling = asyncio.create_task(reconcile_broker(engine, d.broker))
        await reconciling
        await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED", 10)
        # The fills still on their way when the reconcile ran are journaled by now.
        await d.wait_journal(
            lambda ev: sum((f.quantity for f in fills(ev, coid)), D(0)) >= total,
            "every piece journaled",
            10,
        )
        await asyncio.sleep(0.05)
        events = await d.events()
        journaled = Counter(f.exec_id for f in fills(events, coid))
        assert [x for x, n in journaled.items() if n > 1] == []
        assert set(journaled) == {e.exec_id for e in fake.executions}
        assert sum((f.quantity for f in fills(events, coid)), D(0)) == D(total)
        await replay_stream(engine, d.stream)
        assert engine.position(*KEY) == D(total) == venue_position(fake)
        assert engine.oms.orders[coid].order.filled_qty == D(total)


@settings(max_examples=12, deadline=None)
@given(
    pieces=st.lists(st.integers(1, 30), min_size=2, max_size=25),
    at=st.integers(0, 25),
    engine_reads=st.booleans(),
)
def test_many_small_fills_and_a_reconcile_at_any_moment_journal_each_execution_once(
    pieces: list[int], at: int, engine_reads: bool
) -> None:
    """Small fills of one order; a reconcile starts before any piece, amid them or after
    the last, with the engine behind the journal or not: each execution is journaled
    exactly once, and the position is the venue's."""
    asyncio.run(_burst(pieces, at, engine_reads))


async def test_fills_waiting_for_their_commission_are_not_taken_for_missed_ones() -> None:
    """Three pieces heard live wait for their commission reports (the adapter journals a
    fill with its fee, waiting up to `commission_wait_s`) when a reconcile starts: the
    adapter journals each once (the reconcile waits for what TWS sent so far to be
    journaled); the reconcile journals none again and says none was made while the desk
    was away."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="100", limit="149.50"))
        [order] = fake.orders
        await fake.fill(order.order_id, "1")
        await d.wait_journal(lambda ev: len(fills(ev, coid)) == 1, "the first fill")
        engine = await engine_for(d)
        fake.hold_next_commissions(3)
        for _ in range(3):
            await fake.fill(order.order_id, "2")
        await d.wait(lambda: len(d.broker.ib.wrapper.fills) == 4, "three executions heard")

        found = await reconcile_broker(engine, d.broker)

        assert ReconcileKind.MISSED_FILL not in [r.kind for r in found]
        await fake.release_commissions()
        await d.wait_journal(lambda ev: len(fills(ev, coid)) >= 4, "four fills")
        await asyncio.sleep(0.1)
        events = await d.events()
        journaled = Counter(f.exec_id for f in fills(events, coid))
        assert sorted(journaled.values()) == [1, 1, 1, 1]
        assert set(journaled) == {e.exec_id for e in fake.executions}
        assert ReconcileKind.MISSED_FILL not in kinds(events)
        await replay_stream(engine, d.stream)
        assert engine.position(*KEY) == D(7) == venue_position(fake)
