"""What a toast of the desk's own says is a line of the Log pane too, once."""

from __future__ import annotations

from silvertine_tui.engine.session import Alert


async def test_an_alert_the_bus_carries_has_one_log_line(make_desk) -> None:
    """A session alert also published as a log event (the paper venue re-seeded) has
    that event's line; one the bus does not carry (the desk stopped) gets the desk's."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        alerts = desk.session.alerts
        alerts.append(Alert("Paper venue re-seeded", "journaled too.", "warning", journaled=True))
        alerts.append(Alert("Desk stopped", "the desk stopped.", "error"))
        await desk.step(pilot, 1)
        await desk.settle(pilot)
        titles = [n.title for n in desk.app._notifications]
        assert "Paper venue re-seeded" in titles
        assert "Desk stopped" in titles
        notes = [line.text for line in desk.app.model.log if line.stream == "desk"]
        assert notes == ["Desk stopped: the desk stopped."]
        await desk.session.close()
