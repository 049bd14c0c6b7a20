"""The health pane keeps a broker's reason for its state after the heartbeats that
follow it, and does not say a link change twice."""

from __future__ import annotations

from silvertine_tui.bus import BusEntry
from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.events import Health, HealthEvent
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, broker_line

NOW_S = 1_767_364_200.0
COMPONENT = "broker:binance/main"
BUS = BusLine("memory", "memory://", True, None, 0.0, 0.0, 0, 0, 0, "")


def _health(model: FeedModel, n: int, health: Health) -> None:
    model.ingest(
        BusEntry(
            "silvertine:health",
            f"{int(NOW_S * 1000) + n}-0",
            HealthEvent.create(COMPONENT, health),
        )
    )


def _pane_text(model: FeedModel) -> str:
    line = broker_line(
        "binance/main", model.health.get(COMPONENT), ConnectionState.LIVE, None, NOW_S
    )
    return HealthPane().render_text([line], BUS, TradingState.ACTIVE).plain


def test_the_reason_for_a_disconnect_outlives_the_heartbeats() -> None:
    model = FeedModel(prefix="silvertine", clock=lambda: NOW_S)
    reason = "login refused (code -2015): check BINANCE_API_KEY"
    _health(model, 0, Health(component=COMPONENT, state=ConnectionState.DISCONNECTED,
                             message=reason))  # fmt: skip
    for n in range(1, 4):  # the adapter's 1 s health loop: same state, no message
        _health(model, n, Health(component=COMPONENT, state=ConnectionState.DISCONNECTED))
    assert reason in _pane_text(model)
    # A new state brings its own message (none here): the old reason goes.
    _health(model, 5, Health(component=COMPONENT, state=ConnectionState.CONNECTING))
    assert reason not in _pane_text(model)
    _health(model, 6, Health(component=COMPONENT, state=ConnectionState.LIVE,
                             message="connected"))  # fmt: skip
    _health(model, 7, Health(component=COMPONENT, state=ConnectionState.LIVE))
    assert model.health[COMPONENT].message == "connected"


def test_a_link_change_is_said_once() -> None:
    model = FeedModel(prefix="silvertine", clock=lambda: NOW_S)
    # What `Broker.set_link("user", DISCONNECTED, "listen key expired")` publishes.
    _health(
        model,
        0,
        Health(
            component=COMPONENT,
            state=ConnectionState.DISCONNECTED,
            message="user: DISCONNECTED - listen key expired",
            metrics={
                "link:rest": "LIVE",
                "link:user": "DISCONNECTED",
                "link_detail:user": "listen key expired",
            },
        ),
    )
    text = _pane_text(model)
    assert text.count("listen key expired") == 1
    assert "user DISCONNECTED listen key expired" in text
    # A message that names a link but is not its change (a book gap) is shown.
    _health(
        model,
        1,
        Health(
            component=COMPONENT,
            state=ConnectionState.DEGRADED,
            message="market: ETHUSDT.BINANCE: missed book updates 7..9; resynced",
            metrics={"link:rest": "LIVE", "link:user": "LIVE", "link:market": "DEGRADED"},
        ),
    )
    assert "missed book updates 7..9" in _pane_text(model)
    # A message that is not a link change is still shown beside the links.
    _health(
        model,
        1,
        Health(
            component=COMPONENT,
            state=ConnectionState.DISCONNECTED,
            message="clock skew 1,200 ms: check NTP on this host",
            metrics={"link:rest": "LIVE", "link:user": "DISCONNECTED"},
        ),
    )
    assert "clock skew 1,200 ms: check NTP on this host" in _pane_text(model)
