"""Recovery says so when journal entries after its starting point were trimmed (a
fallback snapshot behind a journal a newer build trimmed): the entry the snapshot covers
is gone from the stream (a trim keeps it) and entries left it (XINFO STREAM's
entries-added above its length); a stream Redis lost and the desk wrote anew is none."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import recover, replay_stream, write_snapshot
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue, scripted_fill
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


@pytest.mark.parametrize(("trim_to", "gap"), [(2, True), (0, False)], ids=["gap", "no-gap"])
async def test_entries_trimmed_after_the_snapshot_are_a_counted_gap(
    redis_server: RedisServer, key_prefix: str, trim_to: int, gap: bool
) -> None:
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        live = TradingEngine(bus, [venue], RiskConfig())
        ids = [await bus.publish(scripted_fill(1))]
        await replay_stream(live, stream)
        assert await write_snapshot(live, "scripted", "main")  # covers e1
        ids += [await bus.publish(scripted_fill(2)), await bus.publish(scripted_fill(3))]
        # Another build trims the journal (XTRIM MINID): up to e3 (e2 lost), or up to
        # e1, the entry the snapshot covers (nothing after it lost).
        await raw.xtrim(stream, minid=ids[trim_to], approximate=False)
        again = TradingEngine(bus, [venue], RiskConfig())
        await recover(again, [("scripted", "main")])
        held = again.portfolio.position("scripted", "main", INSTRUMENT.key)
        if gap:
            assert held == D("2")
            assert again.anomalies.counts == {AnomalyKind.JOURNAL_GAP: 1}
            assert f"the journal now starts at {ids[2]}, after the entry {ids[0]}" in (
                again.anomalies.last
            )
        else:
            assert held == D("3")
            assert again.anomalies.total == 0
    finally:
        await raw.aclose()
        await bus.close()


async def test_a_journal_trimmed_with_no_snapshot_left_is_a_counted_gap(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The snapshots lost (their stream deleted) while the journal was trimmed behind
    them: the replay from the journal's start misses its first entries."""
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        ids = [await bus.publish(scripted_fill(n)) for n in (1, 2, 3)]
        await raw.xtrim(stream, minid=ids[2], approximate=False)
        again = TradingEngine(bus, [venue], RiskConfig())
        await recover(again, [("scripted", "main")])
        assert again.portfolio.position("scripted", "main", INSTRUMENT.key) == D("1")
        assert again.anomalies.counts == {AnomalyKind.JOURNAL_GAP: 1}
        assert "there is no snapshot and the journal's first 2 entries were trimmed" in (
            again.anomalies.last
        )
    finally:
        await raw.aclose()
        await bus.close()


async def test_a_restart_after_a_handled_data_loss_reports_no_gap(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """After Redis lost everything, the session writes a snapshot at once from what the
    desk holds: it covers an entry the new stream never had. A restart from it and the
    entries after it misses nothing, and is no gap (it read "may be short")."""
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        live = TradingEngine(bus, [venue], RiskConfig())
        for n in (1, 2):
            await bus.publish(scripted_fill(n))
        await replay_stream(live, stream)
        assert await write_snapshot(live, "scripted", "main")
        # Redis restarts without persistence: every key of the desk is gone.
        keys = [key async for key in raw.scan_iter(match=f"{key_prefix}:*")]
        await raw.delete(*keys)
        # Session._on_data_loss: (reconcile: nothing differs) then a snapshot at once,
        # from what the desk holds in memory: it covers e2's entry, now gone.
        assert await write_snapshot(live, "scripted", "main")
        # The desk trades on; it is killed before its next snapshot.
        await bus.publish(scripted_fill(3))
        await replay_stream(live, stream)
        assert live.portfolio.position("scripted", "main", INSTRUMENT.key) == D("3")

        again = TradingEngine(bus, [venue], RiskConfig())
        await recover(again, [("scripted", "main")])
        # Everything is there: the snapshot's 2 and the fill after it.
        assert again.portfolio.position("scripted", "main", INSTRUMENT.key) == D("3")
        assert AnomalyKind.JOURNAL_GAP not in again.anomalies.counts, again.anomalies.last
    finally:
        await raw.aclose()
        await bus.close()
