"""The bus line keeps its last word once LIVE again after a restart or a data loss.

After Redis restarted empty the bus line read `bus redis LIVE  connected` and
`restarts 1  data loss 1`, and nothing of what the desk did about it, although the
health stream's last bus entry said it ("Redis restarted and data was lost (...):
resynced from the brokers") and docs/operations.md says that is the pane's last word.
A LIVE bus with nothing behind it says nothing more."""

from __future__ import annotations

from textual.app import App, ComposeResult

from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.ui.widgets.health import BusLine, HealthPane

RESYNCED = "Redis restarted and data was lost (run id changed): resynced from the brokers"


class OnePane(App[None]):
    def compose(self) -> ComposeResult:
        yield HealthPane(id="health")


def bus(restarts: int, data_loss: int, message: str) -> BusLine:
    live = ConnectionState.LIVE
    return BusLine("redis", "redis://", True, live, 0.0, 0.0, 0, restarts, data_loss, message)


async def test_a_bus_live_again_after_a_loss_says_what_became_of_it() -> None:
    app = OnePane()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = app.query_one(HealthPane)
        pane.set_text(pane.render_text([], bus(1, 1, RESYNCED), TradingState.ACTIVE))
        await pilot.pause()
        plain = pane.render().plain
        assert "restarts 1  data loss 1" in plain, plain
        assert RESYNCED in " ".join(plain.split()), plain
        # Nothing happened: a LIVE bus's word is not repeated under it.
        pane.set_text(pane.render_text([], bus(0, 0, "connected"), TradingState.ACTIVE))
        await pilot.pause()
        assert "\n  connected" not in pane.render().plain
