"""Each journal entry is applied once, however many readers hand it over.

A reconcile after a reconnect publishes its findings and applies them at once
(`catch_up`) while the session's live reader, following the same journal, hands them
over again. A venue that lost its state (restarted, balances reset) made 2 position
mismatches show as 6 and every `engine.anomaly` log line twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal as D

import pytest

from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import ConnectionState, Position
from silvertine_tui.engine.recovery import reconcile, replay_stream
from silvertine_tui.events import FillEvent, HealthEvent, PositionEvent, ReconcileEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.unit.test_engine_anomalies import engine_health, make
from tests.unit.test_engine_reconnect import buy, scripted_session, venue_fill

SRC = "scripted/main"


async def settled(bus: MemoryBus, stream: str, engine_applied: dict[str, str]) -> None:
    """Until the session's reader has applied the journal's last entry."""
    for _ in range(300):
        last = (await bus.read(stream))[-1].id
        if engine_applied.get(stream) == last:
            await asyncio.sleep(0.05)  # and whatever it does with it
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the reader did not catch up")


async def test_a_reconnect_reconcile_counts_each_mismatch_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = MemoryBus()
    session = scripted_session(bus)
    venue = session.brokers[0]
    assert isinstance(venue, ScriptedVenue)
    await session.start()
    try:
        engine = session.engine
        stream = bus.layout.exec("scripted", "main")
        cid = await engine.submit(buy("2"))
        made = venue_fill(1, cid, "2", ts=1_000)
        venue.venue_orders.pop(cid)
        await bus.publish(FillEvent.create(SRC, made))
        await settled(bus, stream, engine.applied)
        assert engine.position("scripted", "main", INSTRUMENT.key) == D("2")

        # The venue restarted and lost its state: it holds nothing.
        venue.venue_positions[INSTRUMENT.key] = D("0")
        caplog.set_level(logging.INFO, logger="silvertine_tui.engine.core")
        await venue.set_state(ConnectionState.DISCONNECTED, "dropped")
        await venue.come_back()  # reconciles, beside the live reader
        await settled(bus, stream, engine.applied)
        await venue.come_back()  # and again: nothing new
        await settled(bus, stream, engine.applied)

        assert [f.kind for f in session.reconcile_findings] == ["POSITION_MISMATCH"]
        assert engine.anomalies.counts["position_mismatch"] == 1
        logged = [r for r in caplog.records if r.getMessage() == "engine.anomaly"]
        assert len(logged) == 1
        *_, health = await engine_health(bus)
        assert health.payload.metrics["anomalies"] == 1
        assert engine.position("scripted", "main", INSTRUMENT.key) == D("0")
    finally:
        await session.close()


async def test_a_reader_behind_a_reconcile_neither_repeats_nor_steps_back() -> None:
    """The three counts per mismatch: the live reader, behind, hands over the first entry
    of what a reconcile published and applied; `applied` stepped back to it, the next
    catch-up applied the finding again, and the reader then a third time."""
    bus, engine, venue = await make()
    stream = bus.layout.exec("scripted", "main")
    cid = await engine.submit(buy("2"))
    venue.venue_orders.pop(cid)  # filled at the venue: no longer open there
    await bus.publish(FillEvent.create(SRC, venue_fill(1, cid, "2", ts=1_000)))
    await replay_stream(engine, stream)
    reader_at = engine.applied[stream]  # where the live reader stands
    venue.venue_positions[INSTRUMENT.key] = D("0")  # the venue lost its state
    await reconcile(engine, venue, await venue.reconcile())  # applies what it publishes
    assert engine.anomalies.counts["position_mismatch"] == 1
    newest = engine.applied[stream]
    backlog = [e for e in await bus.read(stream) if entry_newer(e.id, reader_at)]
    assert isinstance(backlog[-1].event, ReconcileEvent)  # the position mismatch

    engine.apply_entry(backlog[0])  # the reader hands over its first entry
    assert engine.applied[stream] == newest
    assert await replay_stream(engine, stream) == 0  # the next catch-up: nothing
    for entry in backlog[1:]:  # the reader goes on
        engine.apply_entry(entry)
    engine.apply_entries(backlog)  # and once more as a batch
    assert engine.applied[stream] == newest
    assert engine.anomalies.counts["position_mismatch"] == 1
    assert engine.position("scripted", "main", INSTRUMENT.key) == D("0")

    # A venue position handed over twice is one report: watched once, counted once.
    await bus.publish(
        PositionEvent.create(
            SRC,
            Position(broker="scripted", account="main", instrument=INSTRUMENT.key, quantity=D("4")),
        )
    )
    await replay_stream(engine, stream)
    for entry in (await bus.read(stream))[-1:]:
        engine.apply_entry(entry)
    engine.check_positions(time.time_ns() + 2 * engine.position_settle_ns)
    await engine.publish_anomalies()
    assert engine.anomalies.counts["position_mismatch"] == 2
    *_, health = [h for h in await engine_health(bus) if isinstance(h, HealthEvent)]
    assert health.payload.metrics["anomalies"] == 2


def entry_newer(entry_id: str, than: str) -> bool:
    ms, _, seq = entry_id.partition("-")
    ms0, _, seq0 = than.partition("-")
    return (int(ms), int(seq)) > (int(ms0), int(seq0))


def test_entry_ids_compare_as_numbers() -> None:
    from silvertine_tui.engine.core import entry_after

    assert entry_after("1700000000001-0", "1700000000000-9")
    assert entry_after("1700000000000-10", "1700000000000-9")
    assert not entry_after("1700000000000-9", "1700000000000-9")
    assert not entry_after("999-5", "1000-0")
    assert entry_after("1000-0", "999-99")
    assert not entry_after("10-99", "100-9")
