"""What the market streams drop reaches the broker's health: the streams' counts as
metrics (`market_*`, as the paper desk's Binance feed exports them) and the dropped
messages as errors, which the health pane shows (`errors 5: market_bad_payload 5`).
The pane showed market LIVE and no errors while quotes were being dropped."""

from __future__ import annotations

import asyncio
import json

from silvertine_tui.ui.widgets.health import Metrics, errors_text
from tests.support.binance_broker import Session, binance_session


async def health_metrics(s: Session) -> Metrics:
    await s.broker.publish_health()
    entries = await s.bus.read(s.bus.layout.health)
    return dict(entries[-1].event.payload.metrics)  # type: ignore[union-attr]


async def streams_up(s: Session) -> None:
    for _ in range(200):
        if s.broker.market is not None and s.broker.market.streams:
            break
        await asyncio.sleep(0.02)
    assert s.broker.market is not None
    for stream in s.broker.market.streams:
        await s.fake.wait_for_stream(stream, timeout=3)


async def test_undecodable_market_payloads_show_in_the_broker_health() -> None:
    async with binance_session(balances={"USDT": "10000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        await streams_up(s)
        bad = {
            "stream": "ethusdt@bookTicker",
            "data": {"u": 9, "s": "ETHUSDT", "b": "NaN?", "B": "1", "a": "2001", "A": "1"},
        }
        for _ in range(5):
            await s.fake.send_raw_stream_frame(json.dumps(bad))
        market = s.broker.market
        assert market is not None
        for _ in range(200):
            if market.stats.bad_payloads >= 5:
                break
            await asyncio.sleep(0.02)
        assert market.stats.bad_payloads == 5

        metrics = await health_metrics(s)
        assert metrics["market_bad_payloads"] == 5
        assert metrics["error:market_bad_payload"] == 5
        assert {"market_gaps", "market_dropped", "market_reconnects"} <= metrics.keys()
        assert errors_text(metrics) == "5: market_bad_payload 5"
        # Counted once: every heartbeat exports the same count.
        again = await health_metrics(s)
        assert again["error:market_bad_payload"] == 5
        assert again["errors"] == 5
