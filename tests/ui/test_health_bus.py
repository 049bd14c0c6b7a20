"""The bus's own faults reach the health pane: entries Redis refused (dead-lettered)
and buffered entries found already written."""

from __future__ import annotations

from silvertine_tui.domain import ConnectionState
from silvertine_tui.events import Health, HealthEvent
from silvertine_tui.ui.widgets.health import HealthPane


async def test_dead_lettered_entries_are_shown_in_health(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        text = desk.app.screen.query_one(HealthPane).text.plain
        assert "dead-letter 0" in text
        assert "duplicates skipped" not in text
        # What the Redis bus publishes after a backlog flush that quarantined an entry.
        await desk.session.bus.publish(
            HealthEvent.create(
                "bus",
                Health(
                    component="bus",
                    state=ConnectionState.DEGRADED,
                    message="Redis connection restored; 1 entry refused (WRONGTYPE)",
                    metrics={"dead_lettered": 1, "duplicates_skipped": 2},
                ),
                ts=desk.clock.ns(),
            )
        )
        await desk.settle(pilot)
        text = desk.app.screen.query_one(HealthPane).text.plain
        assert "dead-letter 1" in text
        assert "duplicates skipped 2" in text
        assert "WRONGTYPE" in text
        await desk.session.close()
