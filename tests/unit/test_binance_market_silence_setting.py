"""The market socket's silence watchdog is a setting (`market_silence_s`, 30 s by
default, above 0), and the sockets it rebuilt reach the broker's health: the count as
a metric (`market_silences`) and as an error (`market_silence`), which the Health pane
shows after the link is LIVE again. Before, the limit was fixed at 30 s and the count
stayed inside the market streams."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from silvertine_tui.config import BinanceBrokerConfig
from silvertine_tui.domain import ConnectionState
from silvertine_tui.ui.widgets.health import Metrics, errors_text
from tests.support.binance_broker import Session, binance_session
from tests.support.waiting import until


def config(**settings: Any) -> BinanceBrokerConfig:
    return BinanceBrokerConfig(
        name="binance", api_key=SecretStr("k"), api_secret=SecretStr("s"), **settings
    )


def test_the_silence_limit_defaults_to_half_a_minute() -> None:
    assert config().market_silence_s == 30.0
    assert config(market_silence_s=2.5).market_silence_s == 2.5


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_a_silence_limit_not_above_zero_is_refused_naming_the_field(bad: float) -> None:
    with pytest.raises(ValidationError) as refused:
        config(market_silence_s=bad)
    assert "market_silence_s must be a number of seconds above 0" in str(refused.value)


async def health_metrics(s: Session) -> Metrics:
    await s.broker.publish_health()
    entries = await s.bus.read(s.bus.layout.health)
    return dict(entries[-1].event.payload.metrics)  # type: ignore[union-attr]


async def test_the_setting_drives_the_watchdog_and_silences_reach_the_health() -> None:
    async with binance_session(balances={"USDT": "10000"}, market_silence_s=0.4) as s:
        market = s.broker.market
        assert market is not None
        assert market.silence_s == 0.4
        for stream in market.streams:
            await s.fake.wait_for_stream(stream, timeout=3)
        await s.fake.set_quote("ETHUSDT", "1999", "2001")
        assert s.fake.mute_streams() == 1  # dead at the venue, the socket still open
        await until(lambda: market.stats.silences >= 1, 5.0, "a silence")
        link = s.broker.health_state.links["market"]
        assert link.state is ConnectionState.DEGRADED
        assert link.detail.startswith("no market data for ")

        metrics = await health_metrics(s)
        silences = metrics["market_silences"]  # (one health event: one count)
        assert isinstance(silences, int)
        assert silences >= 1
        assert metrics["error:market_silence"] == silences
        assert f"market_silence {silences}" in errors_text(metrics)
