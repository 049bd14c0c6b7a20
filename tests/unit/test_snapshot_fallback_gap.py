"""When the newest snapshot cannot be read (written by a newer build, or damaged),
recovery falls back to an older one and replays the journal after it. The journal was
trimmed behind the newest snapshot, so entries between the older snapshot and the trim
are gone: the desk comes up short of what the journal held. It did so without a word;
recovery now counts a `journal_gap` anomaly naming the gap (the engine DEGRADED until
the trader has seen it)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.projection import JournalGap, project
from silvertine_tui.engine.recovery import build_snapshot, recover, replay_stream, write_snapshot
from silvertine_tui.events import SnapshotEvent, encode
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue, scripted_fill

DAY_MS = 86_400_000


def position(engine: TradingEngine) -> D:
    return engine.portfolio.position("scripted", "main", INSTRUMENT.key)


async def test_a_fallback_snapshot_behind_a_trimmed_gap_is_said() -> None:
    now = [1_700_000_000_000]
    bus = MemoryBus(clock_ms=lambda: now[0])
    await bus.start()
    venue = ScriptedVenue.build(bus)
    stream = bus.layout.exec("scripted", "main")
    accounts = [("scripted", "main")]

    # Day 0: a fill, a snapshot, two more fills, then the desk dies (no snapshot).
    first = TradingEngine(bus, [venue], RiskConfig())
    await bus.publish(scripted_fill(1))
    await replay_stream(first, stream)
    assert await write_snapshot(first, "scripted", "main")
    now[0] += 1
    await bus.publish(scripted_fill(2))
    now[0] += 1
    await bus.publish(scripted_fill(3))
    await replay_stream(first, stream)
    assert position(first) == D("3")

    # Day 8: a newer build starts, recovers (3), and writes its snapshot, whose floor
    # lets the journal be trimmed by age (bus.journal_retention_s, 7 days).
    now[0] += 8 * DAY_MS
    newer = TradingEngine(bus, [venue], RiskConfig())
    await recover(newer, accounts)
    assert position(newer) == D("3")
    snapshot = build_snapshot(newer, "scripted", "main")
    assert snapshot is not None
    fields = encode(SnapshotEvent.create("scripted/main", snapshot))
    fields[b"v"] = b"2"  # the newer build's snapshot schema
    bus.append_raw(bus.layout.snap("scripted", "main"), fields)
    await bus.set_snapshot_floor(stream, snapshot.covers)
    # Trimmed by age up to the entry the newest snapshot covers (MINID keeps it).
    left = [e.event.payload.exec_id for e in await bus.read(stream)]  # type: ignore[union-attr]
    assert left == ["e3"]

    # This build starts again on the same journal.
    again = TradingEngine(bus, [venue], RiskConfig())
    await recover(again, accounts)
    # e2 is gone: the desk holds what is left (the day-0 snapshot's 1 and e3), and says so
    assert position(again) == D("2")
    assert again.anomalies.counts == {AnomalyKind.JOURNAL_GAP: 1}
    assert again.anomalies.state is ConnectionState.DEGRADED
    said = again.anomalies.last
    assert said.startswith(f"{stream}: the journal now starts at ")
    assert "entries between them may have been trimmed" in said
    assert "may be short of what the journal held" in said


async def test_a_journal_read_from_its_newest_snapshot_has_no_gap() -> None:
    """The usual case: the journal trimmed up to the entry the newest snapshot covers
    (which the trim keeps) is no gap."""
    now = [1_700_000_000_000]
    bus = MemoryBus(clock_ms=lambda: now[0])
    await bus.start()
    venue = ScriptedVenue.build(bus)
    stream = bus.layout.exec("scripted", "main")
    first = TradingEngine(bus, [venue], RiskConfig())
    for n in (1, 2):
        await bus.publish(scripted_fill(n))
        now[0] += 1
    await replay_stream(first, stream)
    now[0] += 8 * DAY_MS
    assert await write_snapshot(first, "scripted", "main")  # trims e1 by age
    assert [e.event.payload.exec_id for e in await bus.read(stream)] == ["e2"]  # type: ignore[union-attr]
    await bus.publish(scripted_fill(3))
    again = TradingEngine(bus, [venue], RiskConfig())
    await recover(again, [("scripted", "main")])
    assert position(again) == D("3")
    assert again.anomalies.total == 0


async def test_a_desk_built_from_the_bus_alone_stands_on_the_snapshot() -> None:
    """`project` (the desk from the journal alone, no engine) read only the journals:
    once one was trimmed behind its snapshot it showed what was left (1 of 3) without a
    word. It starts from the newest snapshot, and a gap it cannot cross is raised."""
    now = [1_700_000_000_000]
    bus = MemoryBus(clock_ms=lambda: now[0])
    await bus.start()
    venue = ScriptedVenue.build(bus)
    stream = bus.layout.exec("scripted", "main")
    accounts = [("scripted", "main")]
    live = TradingEngine(bus, [venue], RiskConfig())
    for n in (1, 2):
        now[0] += 1
        await bus.publish(scripted_fill(n))
    await replay_stream(live, stream)
    now[0] += 8 * DAY_MS  # past the journal's retention: the snapshot lets it be trimmed
    assert await write_snapshot(live, "scripted", "main")
    await bus.publish(scripted_fill(3))
    await replay_stream(live, stream)
    left = [e.event.payload.exec_id for e in await bus.read(stream)]  # type: ignore[union-attr]
    assert left == ["e2", "e3"]  # e1 trimmed; e2 is the entry the snapshot covers

    desk = await project(bus, accounts)
    assert desk.position("scripted", "main", INSTRUMENT.key) == position(live) == D("3")

    # The snapshots lost: the journal alone is short, and says so.
    assert await bus.trim(bus.layout.snap("scripted", "main"), 0) == 1
    with pytest.raises(JournalGap, match="there is no snapshot and the journal's first 1 "):
        await project(bus, accounts)
