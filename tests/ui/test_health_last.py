"""The health pane's "last" is the age of the venue's last message, not of the adapter's
own heartbeat: an adapter publishes a health event every second from its own loop,
whether or not the venue says anything (a Binance desk showed `last <1s` through an
outage while its quotes were 17 s old; an IB desk 14 s into a disconnect)."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.bus import BusEntry
from silvertine_tui.domain import ConnectionState, Quote, TradingState
from silvertine_tui.events import Health, HealthEvent, QuoteEvent
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, broker_line

NOW_S = 1_767_364_200.0
NOW_MS = int(NOW_S * 1000)
BUS = BusLine("memory", "memory://", True, None, 0.0, 0.0, 0, 0, 0, "")


def heartbeat(
    model: FeedModel, component: str, ms: int, state: ConnectionState, **metrics: float
) -> None:
    """The adapter's health event, read back from the bus `ms` (epoch ms)."""
    model.ingest(
        BusEntry(
            "silvertine:health",
            f"{ms}-0",
            HealthEvent.create(
                component,
                Health(component=component, state=state, metrics=dict(metrics)),
                ts=ms * 1_000_000,
            ),
        )
    )


def quote(model: FeedModel, broker: str, instrument: str, ms: int) -> None:
    payload = Quote(instrument=instrument, bid=Decimal("100"), ask=Decimal("101"))
    model.ingest(
        BusEntry(
            f"silvertine:md:{broker}",
            f"{ms}-0",
            QuoteEvent.create(broker, payload, ts=ms * 1_000_000),
        )
    )


def pane_line(model: FeedModel, name: str, broker: str) -> str:
    line = broker_line(
        name,
        model.health.get(f"broker:{name}"),
        ConnectionState.LIVE,
        model.md_last_ns.get(broker),
        NOW_S,
    )
    text = HealthPane().render_text([line], BUS, TradingState.ACTIVE).plain
    return next(row for row in text.splitlines() if row.strip().startswith("lat "))


def test_heartbeats_do_not_make_a_silent_venue_look_fresh() -> None:
    model = FeedModel(prefix="silvertine", clock=lambda: NOW_S)
    quote(model, "binance", "ETHUSDT.BINANCE", NOW_MS - 17_000)
    for back in range(16, -1, -1):  # a heartbeat every second since, the last just now
        heartbeat(
            model,
            "broker:binance/main",
            NOW_MS - back * 1000,
            ConnectionState.DISCONNECTED,
            **{"age_s:ETHUSDT.BINANCE": 17.0 - back},
        )
    assert "last 17s" in pane_line(model, "binance/main", "binance")


def test_the_adapters_reported_age_counts_when_the_desk_holds_no_quote() -> None:
    """A desk that has not read the broker's quotes (or not yet) goes by the ages the
    adapter reported, aged by the time since its health event."""
    model = FeedModel(prefix="silvertine", clock=lambda: NOW_S)
    heartbeat(
        model,
        "broker:ib/DU123",
        NOW_MS - 2_000,
        ConnectionState.DISCONNECTED,
        **{"age_s:AAPL.SMART": 12.0, "age_s:MSFT.SMART": 30.0, "rtt_ms": 3.0},
    )
    assert "last 14s" in pane_line(model, "ib/DU123", "ib")


def test_a_fresh_quote_reads_under_a_second_and_no_message_reads_a_dash() -> None:
    model = FeedModel(prefix="silvertine", clock=lambda: NOW_S)
    quote(model, "binance", "ETHUSDT.BINANCE", NOW_MS - 300)
    heartbeat(model, "broker:binance/main", NOW_MS, ConnectionState.LIVE)
    assert "last <1s" in pane_line(model, "binance/main", "binance")
    # A broker that never heard from its venue: no age to show, not the heartbeat's.
    heartbeat(model, "broker:ib/DU123", NOW_MS, ConnectionState.DISCONNECTED)
    assert "last -" in pane_line(model, "ib/DU123", "ib")
