"""An execution TWS reports live for an order the desk was never told of (order id 999,
a permId no one knows, no orderRef: placed in TWS's window, its openOrder never sent
to the API): ib_async keeps it but raises no event (it holds no trade for it), and the
adapter dropped it without a word. TWS's position holds it, so 10 s later the engine
said a position mismatch that named no cause. Now it is counted
(`error:unknown_execution`), logged, said in the desk's Log, and journaled as the
reconcile journals another program's fill (under `ib-<permId>`): the position follows
TWS at once, and the engine names the fill of an order the journal does not know.
Against the fake TWS with the real ib_async client."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest

from silvertine_tui.domain import Side
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import FillCorrectionEvent, LogLevel, ReconcileEvent, ReconcileKind
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills
from tests.unit.test_ib_cancel_everything import engine_for, sync

AAPL = 265598


async def test_an_execution_of_an_order_no_one_knows_is_journaled_counted_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with FakeTws(positions={"AAPL": ("10", "150")}) as fake, desk(fake) as d:
        engine = await engine_for(d)
        execution = await fake.execute_unheard("AAPL", "BUY", "2", "150.25", order_id=999)
        coid = f"ib-{execution.order.perm_id}"
        await d.wait_journal(lambda ev: len(fills(ev, coid)) == 1, "the execution journaled")
        await d.broker.settle()
        [fill] = fills(await d.events(), coid)
        assert (fill.side, fill.quantity, fill.price) == (Side.BUY, Decimal(2), Decimal("150.25"))
        assert fill.exec_id == execution.exec_id
        assert fill.instrument == "AAPL.SMART"
        assert d.broker.health_state.errors["unknown_execution"] == 1
        said = await d.said_in_log(LogLevel.WARNING)
        [line] = [s for s in said if execution.exec_id in s]
        assert "order id 999" in line
        assert f"permId {execution.order.perm_id}" in line
        assert "BOT 2 at 150.25" in line
        assert "placed in TWS or by another program" in line
        [record] = [r for r in caplog.records if r.getMessage() == "ib.unknown_execution"]
        assert record.__dict__["exec_id"] == execution.exec_id
        # The position follows TWS: no mismatch to wait out, the fill named as of an
        # order the journal does not know.
        await sync(engine, d.bus)
        assert engine.portfolio.position("ib", fake.account, "AAPL.SMART") == 12
        assert fake.positions[AAPL].quantity == 12
        engine.check_positions(time.time_ns() + 60 * 10**9)
        assert not engine.anomalies.counts[AnomalyKind.POSITION_MISMATCH]
        assert not engine.anomalies.replayed[AnomalyKind.POSITION_MISMATCH]
        # Once: a reconcile finds nothing missed.
        await reconcile_broker(engine, d.broker)
        await sync(engine, d.bus)
        assert len(fills(await d.events(), coid)) == 1
        kinds = [e.payload.kind for e in await d.events() if isinstance(e, ReconcileEvent)]
        assert ReconcileKind.MISSED_FILL not in kinds
        assert ReconcileKind.POSITION_MISMATCH not in kinds
        assert engine.portfolio.position("ib", fake.account, "AAPL.SMART") == 12


async def test_an_unknown_execution_is_journaled_once_across_a_reconnect() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        execution = await fake.execute_unheard("AAPL", "SELL", "3", "149.75", order_id=999)
        coid = f"ib-{execution.order.perm_id}"
        await d.wait_journal(lambda ev: len(fills(ev, coid)) == 1, "journaled")
        connects = fake.connects
        await fake.drop_connections()
        await fake.wait_for(lambda: fake.connects == connects + 1, timeout=5)
        await d.wait_live()
        await d.broker.settle()
        assert len(fills(await d.events(), coid)) == 1
        assert d.broker.health_state.errors["unknown_execution"] == 1


async def test_ibs_correction_of_an_unknown_execution_is_its_correction() -> None:
    """IB corrects the execution later (the execId again, `.01` -> `.02`, another
    price): journaled as the fill's correction, never a second fill. (The desk is the
    master client here, so that TWS tells it the correction of TWS's own order.)"""
    async with FakeTws(master_client_id=1) as fake, desk(fake) as d:
        execution = await fake.execute_unheard("AAPL", "BUY", "2", "150.25", order_id=999)
        coid = f"ib-{execution.order.perm_id}"
        await d.wait_journal(lambda ev: len(fills(ev, coid)) == 1, "journaled")
        corrected = await fake.correct_execution(execution, price="150.20")
        await d.wait_journal(
            lambda ev: any(isinstance(e, FillCorrectionEvent) for e in ev), "the correction"
        )
        await d.broker.settle()
        events = await d.events()
        assert len(fills(events, coid)) == 1
        [correction] = [e.payload for e in events if isinstance(e, FillCorrectionEvent)]
        assert correction.replaces == execution.exec_id
        assert correction.fill.exec_id == corrected
        assert correction.fill.price == Decimal("150.20")
        assert d.broker.health_state.errors["unknown_execution"] == 1
