"""A venue's or a library's words are shown as they were said: never read as markup.

A toast was rendered as Textual markup. `Filter failure: [PRICE_FILTER]` showed as
`Filter failure:` (the filter's name read as a style), and an error with `[/...]` in it
raised `MarkupError` in the toast's render and stopped the app. The order's history
table had the same fault (a Rich table reads a str cell as markup).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import Static
from textual.widgets._toast import Toast

from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.events import Log, LogEvent, LogLevel, OrderUpdateEvent
from silvertine_tui.ui.screens.history import OrderHistoryScreen

from .conftest import Desk, limit_buy, make_settings

REASON = "Filter failure: [PRICE_FILTER] at [/api/v3/order] [b]x[/] [$accent] [@click=app.quit]"


def toasts(desk: Desk) -> list[str]:
    return [t.render().plain for t in desk.app.screen.query(Toast)]


async def test_a_venues_reject_reason_is_shown_word_for_word(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        cid = "st000000000000000401"
        await desk.session.engine.submit(limit_buy(cid, "ETHUSDT.PAPER", "2", "3400.00"))
        await desk.settle(pilot)
        # What a venue that rejects after acknowledging reports (IB does), and an error
        # another desk's engine could only say in the log, as they arrive on the bus.
        bus = desk.session.bus
        rejected = OrderUpdate(client_order_id=cid, status=OrderStatus.REJECTED, reason=REASON)
        await bus.publish(OrderUpdateEvent.create("paper/main", rejected, ts=desk.clock.ns()))
        said = Log(level=LogLevel.ERROR, message=f"could not cancel: {REASON}")
        await bus.publish(LogEvent.create("engine", said, ts=desk.clock.ns()))
        await desk.settle(pilot)
        await pilot.pause(0.2)  # the toast rack mounts its toasts

        assert desk.app.is_running
        shown = toasts(desk)
        rejects = [t for t in shown if t.startswith("Order rejected\n")]
        assert len(rejects) == 1, shown
        assert REASON in rejects[0]
        assert f"Error\ncould not cancel: {REASON}" in shown

        view = desk.session.engine.oms.get(cid)
        assert view is not None
        desk.app.push_screen(OrderHistoryScreen(view))
        await desk.settle(pilot)
        body = desk.app.screen.query_one("#history-events", Static)
        lines = [s.text for s in body.render_lines(body.region.reset_offset)]
        assert desk.app.is_running
        assert REASON in " ".join(" ".join(lines).split()), lines  # (the reason wraps)
        await desk.session.close()


BRACKETS = st.text(alphabet=st.sampled_from("[]/@=$#.:_ abcPRICE_FILTER01\\'\""), max_size=40)


async def test_any_text_a_toast_is_given_is_the_text_it_shows(make_desk) -> None:
    """Whatever the desk is told to say, and whoever asks (the app, or a screen or a
    widget through `Widget.notify`, which passes `markup=True`), is what the toast
    reads, and rendering it never raises. (A notification is posted as a message, so
    the examples are checked together once the app has taken them.)

    The 200 examples hold the loop for seconds (4.7 s on an idle machine): the desk's
    claims, renewed on the real clock, then lapsed (7.5 s) on a loaded one and said
    so in a toast of their own. This desk's claims last the longest ttl there is."""
    plain = make_settings()
    long_claims = plain.engine.model_copy(update={"claim_ttl_s": 600.0})
    desk = make_desk(settings=plain.model_copy(update={"engine": long_claims}))
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        assert desk.session.claims.ttl_ms == 600_000
        app = desk.app
        screen = app.screen
        app.clear_notifications()
        asked: list[str] = []

        @settings(
            max_examples=200,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(title=BRACKETS, message=BRACKETS, by_widget=st.booleans())
        def ask(title: str, message: str, by_widget: bool) -> None:
            if by_widget:
                screen.notify(message, title=title, severity="error")
            else:
                app.notify(message, title=title, severity="warning")
            asked.append(f"{title}\n{message}" if title else message)

        ask()
        await pilot.pause()
        await pilot.pause(0.2)  # the toast rack mounts a toast for each
        assert app.is_running
        shown = [toast.render().plain for toast in screen.query(Toast)]
        assert len(asked) >= 100
        assert shown == asked
        await desk.session.close()
