"""Health events every desk on a prefix writes (components `bus` and `engine`) are each
desk's own: the UI model keys them by the desk they name, toasts and Log lines name
another desk's, and the projection keeps this desk's engine line its own."""

from __future__ import annotations

from itertools import count

from silvertine_tui.bus import BusEntry
from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.engine.anomalies import ENGINE_COMPONENT, Anomalies, AnomalyKind
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.events import Health, HealthEvent
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, engine_line

NOW_S = 1_767_364_200.0
A = {"desk": "a1a1a1a1a1a1a1a1", "desk_name": "desk host-a pid 11"}
B = {"desk": "b2b2b2b2b2b2b2b2", "desk_name": "desk host-b pid 22"}
BUS = BusLine("redis", "redis://localhost", True, None, 0.0, 0.0, 0, 0, 0, "")
_ids = count()


def engine_health(desk: dict[str, str], kind: AnomalyKind, message: str, n: int = 1) -> Health:
    """What a desk's engine publishes after `n` anomalies of `kind` (its `Anomalies`,
    named as its session names it, and `TradingEngine.publish_anomalies`' metrics)."""
    found = Anomalies(desk=dict(desk))
    for _ in range(n):
        found.record(kind, message, replaying=False)
    metrics = found.metrics()
    metrics["last_kind"] = str(kind)
    metrics["last"] = found.last
    return Health(component=ENGINE_COMPONENT, state=found.state, message=message, metrics=metrics)


def bus_health(desk: dict[str, str] | None, state: ConnectionState, message: str) -> Health:
    return Health(component="bus", state=state, message=message, metrics=dict(desk or {}))


def feed(model: FeedModel, health: Health) -> None:
    model.ingest(
        BusEntry(
            "silvertine:health",
            f"{int(NOW_S * 1000) + next(_ids)}-0",
            HealthEvent.create(health.component, health),
        )
    )


def desk_a_model() -> FeedModel:
    return FeedModel(
        prefix="silvertine",
        clock=lambda: NOW_S,
        own_desk=A["desk_name"],
        own_bus=A["desk"],
        notices_from_ms=0,
    )


def test_another_desks_engine_and_bus_are_named_in_toasts_and_log_lines() -> None:
    model = desk_a_model()
    feed(model, engine_health(B, AnomalyKind.OVERFILL, "b: filled 2 of 1"))
    assert [(n.title, n.message) for n in model.take_notices()] == [
        ("Engine of desk host-b pid 22: overfill", "b: filled 2 of 1")
    ]
    assert model.log[-1].text == "engine of desk host-b pid 22 DEGRADED b: filled 2 of 1"

    # This desk's first anomaly is its own toast (B's count of 1 hid it: `1 > 1`).
    feed(model, engine_health(A, AnomalyKind.OVERFILL, "a: filled 3 of 1"))
    assert [n.title for n in model.take_notices()] == ["Engine: overfill"]
    assert model.log[-1].text == "engine DEGRADED a: filled 3 of 1"
    assert set(model.health) == {f"engine@{A['desk']}", f"engine@{B['desk']}"}

    feed(model, bus_health(B, ConnectionState.DISCONNECTED, "Redis unreachable from B"))
    assert model.log[-1].text == "bus of desk host-b pid 22 DISCONNECTED Redis unreachable from B"
    feed(model, bus_health(A, ConnectionState.DEGRADED, "3 entries dead-lettered"))
    assert model.log[-1].text == "bus DEGRADED 3 entries dead-lettered"
    # An older build's names no desk: whose it is cannot be told, shown as before.
    feed(model, bus_health(None, ConnectionState.DEGRADED, "an older build's bus"))
    assert model.log[-1].text == "bus DEGRADED an older build's bus"


def test_a_long_desk_name_is_cut_in_the_log_line() -> None:
    model = desk_a_model()
    far = {"desk": "c3c3c3c3c3c3c3c3", "desk_name": f"desk {'h' * 200} pid 33"}
    feed(model, bus_health(far, ConnectionState.DISCONNECTED, "gone"))
    text = model.log[-1].text
    assert text.startswith(f"bus of desk {'h' * 55}")
    assert text.endswith("DISCONNECTED gone")
    assert len(text) < 160


def test_this_desks_engine_line_is_its_own_and_a_watcher_lists_each() -> None:
    b_first = engine_health(B, AnomalyKind.OVERFILL, "b: filled 2 of 1")
    mine = engine_health(A, AnomalyKind.POSITION_MISMATCH, "a: venue says 2, fills 1")
    b_next = engine_health(B, AnomalyKind.UNKNOWN_ORDER, "b: unknown b-9", n=1)

    desk = DeskProjection()
    desk.own_desk = A["desk"]
    desk.apply(HealthEvent.create(ENGINE_COMPONENT, b_first))
    assert desk.anomalies.total == 0
    assert engine_line(desk.anomalies) is None  # no engine line: B's is B's
    desk.apply(HealthEvent.create(ENGINE_COMPONENT, mine))
    desk.apply(HealthEvent.create(ENGINE_COMPONENT, b_next))
    assert (desk.anomalies.total, desk.anomalies.last) == (1, "a: venue says 2, fills 1")
    assert desk.anomalies.others == ()  # a trading desk: its own line only
    text = HealthPane().render_text(
        [], BUS, TradingState.ACTIVE, engine=engine_line(desk.anomalies)
    )
    assert "engine DEGRADED  anomalies 1" in text.plain
    assert "host-b" not in text.plain

    watching = DeskProjection()
    watching.own_desk = "d4d4d4d4d4d4d4d4"
    watching.lists_others = True
    for health in (b_first, mine, b_next):
        watching.apply(HealthEvent.create(ENGINE_COMPONENT, health))
    text = HealthPane().render_text(
        [], BUS, TradingState.ACTIVE, engine=engine_line(watching.anomalies)
    )
    lines = text.plain.splitlines()
    at = lines.index("engine of desk host-b pid 22 DEGRADED  anomalies 1")
    assert lines[at:] == [
        "engine of desk host-b pid 22 DEGRADED  anomalies 1",
        "  unknown order 1",
        "  b: unknown b-9",
        "engine of desk host-a pid 11 DEGRADED  anomalies 1",
        "  position mismatch 1",
        "  a: venue says 2, fills 1",
    ]

    # Not told whose it is (a projection built bare): every engine line is the desk's.
    bare = DeskProjection()
    for health in (mine, b_first):
        bare.apply(HealthEvent.create(ENGINE_COMPONENT, health))
    assert bare.anomalies.last == "b: filled 2 of 1"
