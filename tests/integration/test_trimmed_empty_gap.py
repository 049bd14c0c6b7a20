"""A journal emptied by an operator (`XTRIM ... MAXLEN 0`, or a MINID past its last
entry) is a journal gap, as one trimmed to its last entry is: recovery and a desk
built from the bus (`project`) say so. `journal_gap` said nothing of a stream with no
first entry, and the desk came up short without a word (position 1 of 4, or 0 of 3)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.projection import JournalGap, project
from silvertine_tui.engine.recovery import recover, replay_stream, write_snapshot
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue, scripted_fill
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("maxlen", [1, 0], ids=["one-left", "emptied"])
async def test_a_journal_trimmed_after_its_snapshot_is_a_gap_even_emptied(
    redis_server: RedisServer, key_prefix: str, maxlen: int
) -> None:
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        live = TradingEngine(bus, [venue], RiskConfig())
        await bus.publish(scripted_fill(1))
        await replay_stream(live, stream)
        assert await write_snapshot(live, "scripted", "main")  # covers e1: position 1
        ids = [await bus.publish(scripted_fill(n)) for n in (2, 3, 4)]
        await replay_stream(live, stream)
        # The desk is killed before its next snapshot; an operator trims the journal.
        await raw.xtrim(stream, maxlen=maxlen, approximate=False)

        again = TradingEngine(bus, [venue], RiskConfig())
        await recover(again, [("scripted", "main")])
        assert again.portfolio.position("scripted", "main", INSTRUMENT.key) == D(1 + maxlen)
        assert again.anomalies.counts == {AnomalyKind.JOURNAL_GAP: 1}, again.anomalies.last
        if not maxlen:
            assert (
                f"the journal holds no entries: it had entries up to {ids[-1]}, after the "
                "entry" in again.anomalies.last
            )
    finally:
        await raw.aclose()
        await bus.close()


async def test_a_journal_emptied_after_all_its_snapshot_covers_is_no_gap(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Emptied up to the entry the snapshot covers and nothing written after it: the
    snapshot holds all of it, nothing is short."""
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
        assert await write_snapshot(live, "scripted", "main")  # covers e2
        await raw.xtrim(stream, maxlen=0, approximate=False)
        again = TradingEngine(bus, [venue], RiskConfig())
        await recover(again, [("scripted", "main")])
        assert again.portfolio.position("scripted", "main", INSTRUMENT.key) == D(2)
        assert again.anomalies.total == 0, again.anomalies.last
    finally:
        await raw.aclose()
        await bus.close()


async def test_a_journal_emptied_with_no_snapshot_is_a_gap(
    redis_server: RedisServer, key_prefix: str
) -> None:
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        for n in (1, 2, 3):
            await bus.publish(scripted_fill(n))
        await raw.xtrim(stream, maxlen=0, approximate=False)
        again = TradingEngine(bus, [venue], RiskConfig())
        await recover(again, [("scripted", "main")])
        assert again.portfolio.position("scripted", "main", INSTRUMENT.key) == D(0)
        assert again.anomalies.counts == {AnomalyKind.JOURNAL_GAP: 1}, again.anomalies.last
        assert "there is no snapshot and all the journal's 3 entries were trimmed" in (
            again.anomalies.last
        )
        with pytest.raises(JournalGap):
            await project(bus, [("scripted", "main")])
    finally:
        await raw.aclose()
        await bus.close()
