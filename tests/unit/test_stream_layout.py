"""Stream names and routing (DESIGN.md "Stream layout"), without any backend."""

from __future__ import annotations

import pytest

from silvertine_tui.bus import BusOptions, StreamLayout
from silvertine_tui.events import CHANNELS, EVENT_TYPES, Channel, Snapshot, SnapshotEvent
from tests.support import (
    balance_event,
    fill_event,
    health_event,
    log_event,
    order_update_event,
    quote_event,
    risk_event,
    signal_event,
    trade_event,
)


def test_names_follow_the_design() -> None:
    layout = StreamLayout()
    assert layout.prefix == "silvertine"
    assert layout.exec("binance", "spot") == "silvertine:exec:binance:spot"
    assert layout.md("ib") == "silvertine:md:ib"
    assert layout.snap("paper", "main") == "silvertine:snap:paper:main"
    assert layout.health == "silvertine:health"
    assert layout.signal == "silvertine:signal"
    assert layout.risk == "silvertine:risk"
    assert layout.epoch_key == "silvertine:epoch"


def test_prefix_is_configurable_and_comes_from_the_options() -> None:
    layout = BusOptions(prefix="t-1:desk").layout
    assert layout == StreamLayout("t-1:desk")
    assert layout.exec("paper", "main") == "t-1:desk:exec:paper:main"
    assert layout.health == "t-1:desk:health"


@pytest.mark.parametrize(
    ("event", "stream"),
    [
        (fill_event(1, source="paper/main"), "p:exec:paper:main"),
        (order_update_event(1, source="binance/spot"), "p:exec:binance:spot"),
        (balance_event("ib/U123"), "p:exec:ib:U123"),
        (fill_event(1, source="paper"), "p:exec:paper:default"),
        (quote_event(source="binance"), "p:md:binance"),
        (trade_event(source="binance/spot"), "p:md:binance"),
        (health_event(), "p:health"),
        (log_event(), "p:health"),
        (signal_event(), "p:signal"),
        (risk_event(), "p:risk"),
        (
            SnapshotEvent.create("ib/U1", Snapshot(broker="ib", account="U1", covers="1-0")),
            "p:snap:ib:U1",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else v.type,
)
def test_route(event: object, stream: str) -> None:
    assert StreamLayout("p").route(event) == stream  # type: ignore[arg-type]


def test_every_event_type_has_a_channel() -> None:
    assert set(CHANNELS) == set(EVENT_TYPES)


@pytest.mark.parametrize(
    ("stream", "channel", "journal"),
    [
        ("p:exec:paper:main", Channel.EXECUTION, True),
        ("p:risk", Channel.RISK, True),
        ("p:md:binance", Channel.MARKET_DATA, False),
        ("p:health", Channel.HEALTH, False),
        ("p:signal", Channel.SIGNAL, False),
        ("p:snap:paper:main", Channel.SNAPSHOT, False),
        ("p:epoch", None, False),
        ("other:exec:paper:main", None, False),
        ("pp:exec:paper:main", None, False),  # a prefix of another prefix
        ("exec:paper:main", None, False),
    ],
)
def test_channel_of_and_is_journal(stream: str, channel: Channel | None, journal: bool) -> None:
    layout = StreamLayout("p")
    assert layout.channel_of(stream) == channel
    assert layout.is_journal(stream) is journal


def test_a_prefix_with_colons_still_parses() -> None:
    layout = StreamLayout("a:b")
    assert layout.channel_of(layout.exec("x", "y")) is Channel.EXECUTION
    assert layout.channel_of("a:exec:x:y") is None
