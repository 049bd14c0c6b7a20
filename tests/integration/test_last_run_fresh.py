"""The last-run record says when its desk last ran to within `RECORD_FRESH_S`: it is
written again that often while nothing in it changes. A desk killed left the time of
its start (or of its last change of state), and a start after Redis lost the journal
said "the journal this host's desk last wrote (up to 05:34:10)" of a desk that ran and
journaled until 05:35 (a trader's review on the Binance desk)."""

from __future__ import annotations

from pathlib import Path

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.last_run import RECORD_FRESH_S, RunRecorder, load, record_path
from tests.support.redis_server import RedisServer

START_NS = 1_796_000_000_000_000_000


async def test_the_record_is_written_again_while_the_desk_runs(
    key_prefix: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    await bus.start()
    now = [START_NS]
    try:
        engine = TradingEngine(bus, [], RiskConfig())
        path = record_path(tmp_path, bus.stats.url, key_prefix)
        recorder = RunRecorder(engine, path, clock=lambda: now[0])
        await recorder.check()
        await recorder.record()

        def written_ms() -> int:
            record = load(path)
            assert record is not None
            return record.at_ms

        assert written_ms() == START_NS // 1_000_000
        now[0] += 10 * 1_000_000_000  # nothing changed, and not long since: not written
        await recorder.record()
        assert written_ms() == START_NS // 1_000_000
        now[0] = START_NS + int((RECORD_FRESH_S + 1) * 1e9)
        await recorder.record()
        assert written_ms() == now[0] // 1_000_000
    finally:
        await bus.close()
