"""What a trader sees, as SVG snapshots in snapshots/test_snapshots/.

Every snapshot runs the real app on the real session and paper broker with the
seeded market stepped by hand and the clock injected (see conftest.py).
Regenerate with `pytest tests/ui --snapshot-update` and look at every changed SVG.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Input

from silvertine_tui.domain import ConnectionState, Side
from silvertine_tui.events import Health, HealthEvent

from .conftest import Desk, market_buy, populate
from .test_reduce_only import from_the_palette
from .working_desk import build_working_desk, working_settings

THEMES = ["silvertine-dark", "silvertine-light", "silvertine-high-contrast", "silvertine-amber"]


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare, make_desk, size: tuple[int, int]) -> None:
    """The desk with quotes, a resting order, a position with P&L and a signal."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)

    assert snap_compare(desk.app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
def test_every_theme(snap_compare, make_desk, theme: str) -> None:
    desk: Desk = make_desk(theme=theme)

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)

    assert snap_compare(desk.app, terminal_size=(120, 36), run_before=run_before)


def test_compact_ticket_pane(snap_compare, make_desk) -> None:
    """At 80x24 the panes are one at a time: the ticket after `b` on a quote."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("1", "down", "b")
        await pilot.press(*"0.25")
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(80, 24), run_before=run_before)


def test_ticket_validation_errors(snap_compare, make_desk) -> None:
    """Off-tick price, quantity under the lot: named in place, nothing sent."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("1", "down", "b")  # BTCUSDT.PAPER
        ticket = desk.app.screen.query_one("#ticket")
        ticket.query_one("#t-limit_price", Input).value = "64000.005"
        ticket.query_one("#t-quantity", Input).value = "0.000015"
        await pilot.press("f9")
        await desk.quiet(pilot)
        assert len(desk.session.engine.oms.orders) == 2  # the two from populate()

    assert snap_compare(desk.app, terminal_size=(120, 36), run_before=run_before)


def test_ticket_after_a_send(snap_compare, make_desk) -> None:
    """The status beside Send names the whole order sent (wrapped), and the preview says
    it is what F9 would send again."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("1", "down", "b")  # BTCUSDT.PAPER at the ask: it fills
        await pilot.press(*"0.01", "f9")
        await desk.settle(pilot)
        await desk.quiet(pilot)
        assert len(desk.session.engine.oms.orders) == 3  # the two from populate(), and this

    assert snap_compare(desk.app, terminal_size=(120, 36), run_before=run_before)


def test_confirmation_modal(snap_compare, make_desk) -> None:
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("1", "down", "b")
        ticket = desk.app.screen.query_one("#ticket")
        ticket.query_one("#t-quantity", Input).value = "0.25"  # ~16,000 > 10,000
        await pilot.press("f9")
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(120, 36), run_before=run_before)


def test_health_degraded_broker_and_restarted_bus(snap_compare, make_desk) -> None:
    """The broker is DEGRADED (slow, reconnected, near its rate limit); Redis restarted
    and lost data; two entries on the bus could not be decoded."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        broker = desk.broker
        broker.health_state.rtt_ms = 850.0
        broker.health_state.reconnects = 3
        broker.health_state.rate_limit.update({"weight_1m": 0.82, "orders_10s": 0.4})
        await broker.set_state(ConnectionState.DEGRADED, "venue slow: acks over 800ms")
        bus = desk.session.bus
        await bus.publish(
            HealthEvent.create(
                "bus",
                Health(
                    component="bus",
                    state=ConnectionState.DEGRADED,
                    message="Redis restarted and lost data (the epoch key is missing): "
                    "resyncing from the brokers",
                    metrics={"server_restarts": 1, "data_loss_detected": 1},
                ),
                ts=desk.clock.ns(),
            )
        )
        for bad in (
            {b"t": b"quote"},
            {
                b"t": b"fill",
                b"v": b"1",
                b"id": b"x",
                b"ts": b"1",
                b"src": b"paper/main",
                b"p": b"{not json",
            },
        ):
            bus.append_raw(bus.layout.exec("paper", "main"), bad)  # type: ignore[attr-defined]
        desk.clock.advance(1.0)
        await desk.quiet(pilot)
        await pilot.press("6", "z")  # the health pane, zoomed
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(120, 36), run_before=run_before)


def test_halted(snap_compare, make_desk) -> None:
    """After the kill switch: every order cancelled, HALTED everywhere."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        await pilot.press("y")
        await desk.quiet(pilot)
        await pilot.press("1", "b")
        desk.app.screen.query_one("#ticket").query_one("#t-quantity", Input).value = "1"
        await pilot.press("f9")
        await desk.quiet(pilot)
        assert desk.session.engine.oms.working() == []

    assert snap_compare(desk.app, terminal_size=(120, 36), run_before=run_before)


def test_modify_dialog_of_an_order_the_kill_switch_cancelled(snap_compare, make_desk) -> None:
    """The kill switch pulled from the modify dialog: the dialog says the order ended
    meanwhile (in the warning colour), its fields closed, and esc closes it."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("3", "home", "m")
        await pilot.pause()
        desk.app.screen.query_one("#m-limit_price", Input).value = "63450.00"
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        await pilot.press("y")
        await desk.quiet(pilot)
        assert desk.session.engine.oms.working() == []

    assert snap_compare(desk.app, terminal_size=(80, 24), run_before=run_before)


def test_the_same_order_again_asks_first(snap_compare, make_desk) -> None:
    """F9, then enter a second later on the unchanged ticket: the dialog asks before a
    second order, its focus on Cancel (tests/ui/test_ticket_repeat.py)."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("1", "down", "b")
        ticket = desk.app.screen.query_one("#ticket")
        ticket.query_one("#t-limit_price", Input).value = "64000.00"
        await pilot.press(*"0.01", "f9")
        await desk.settle(pilot)
        desk.clock.advance(1.0)
        await pilot.press("enter")
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(80, 24), run_before=run_before)


def test_reduce_only_asks_before_it_cancels(snap_compare, make_desk) -> None:
    """REDUCE ONLY from the palette on a desk with a resting buy and no position in
    it: the order would be cancelled, so it asks (tests/ui/test_reduce_only.py)."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await from_the_palette(desk, pilot)
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(80, 24), run_before=run_before)


def test_a_dialog_says_the_trading_state_moved(snap_compare, make_desk) -> None:
    """The REDUCE ONLY dialog open when another desk's kill switch halts trading: it
    says so, its confirm button off (tests/ui/test_reduce_only.py)."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await from_the_palette(desk, pilot)
        await desk.session.engine.kill("kill switch (another desk)")
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen(snap_compare, make_desk) -> None:
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(120, 36), press=["f1"], run_before=run_before)


def test_order_history(snap_compare, make_desk) -> None:
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("3", "h")
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(120, 36), run_before=run_before)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_working_desk(snap_compare, make_desk, size: tuple[int, int]) -> None:
    """A busy desk: 32 working orders, 20 positions, filled and cancelled orders.
    At 80x24 the Orders pane is the one shown."""
    desk: Desk = make_desk(settings=working_settings())

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await build_working_desk(desk, pilot)
        if size[0] < 100:
            await pilot.press("3")
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=size, run_before=run_before)


def test_todays_orders(snap_compare, make_desk) -> None:
    """The Orders pane toggled to all of today's orders, zoomed."""
    desk: Desk = make_desk(settings=working_settings())

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await build_working_desk(desk, pilot)
        await pilot.press("3")
        await desk.settle(pilot)  # the Orders pane has the focus: `a` is its key
        await pilot.press("a")
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(120, 36), run_before=run_before)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_toasts_beside_the_ticket(snap_compare, make_desk, size: tuple[int, int]) -> None:
    """Toasts stack bottom left in the grid; at 80x24 the newest shows over the header."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("1", "down", "b")
        desk.app.notify("connection lost", title="binance DISCONNECTED", severity="warning",
                        timeout=600)  # fmt: skip
        desk.app.notify(
            "st000000000000000999: price collar", title="Risk reject", severity="error", timeout=600
        )
        await desk.settle(pilot)

    assert snap_compare(desk.app, terminal_size=size, run_before=run_before)


def test_a_toast_under_a_dialog_at_80x24(snap_compare, make_desk) -> None:
    """A toast while the send confirmation asks: over the header, never over the
    dialog's order, its notional or its buttons."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("1", "down", "b")
        ticket = desk.app.screen.query_one("#ticket")
        ticket.query_one("#t-quantity", Input).value = "0.25"  # ~16,000 > 10,000
        await pilot.press("f9")
        await desk.quiet(pilot)
        desk.app.notify("connection lost", title="binance DISCONNECTED", severity="warning",
                        timeout=600)  # fmt: skip
        await desk.settle(pilot)

    assert snap_compare(desk.app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_fill_line_in_the_header(snap_compare, make_desk, size: tuple[int, int]) -> None:
    """Fills show in the header (the newest, in the side's colour, and how many more),
    not as toasts; at 80 columns the line goes before the desk's name."""
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        engine = desk.session.engine
        for n in range(3):
            await engine.submit(market_buy(f"snap-{n}", "BTCUSDT.PAPER", "0.015"))
        sell = market_buy("snap-sell", "ETHUSDT.PAPER", "0.5").model_copy(
            update={"side": Side.SELL}
        )
        await engine.submit(sell)
        await desk.settle(pilot)

    assert snap_compare(desk.app, terminal_size=size, run_before=run_before)


def test_quit_dialog(snap_compare, make_desk) -> None:
    desk: Desk = make_desk()

    async def run_before(pilot) -> None:
        await desk.start(pilot)
        await populate(desk, pilot)
        await pilot.press("q")
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=(80, 24), run_before=run_before)


def test_populate_is_what_the_snapshots_claim(make_desk) -> None:
    """Guards the snapshots' premise: one resting order, one position, one signal."""
    import asyncio

    desk: Desk = make_desk()

    async def go() -> None:
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            await populate(desk, pilot)
            engine = desk.session.engine
            assert [v.client_order_id for v in engine.oms.working()] == ["st000000000000000101"]
            assert engine.position("paper", "main", "ETHUSDT.PAPER") == Decimal("1.5")
            assert len(desk.app.model.signals) == 1
            await desk.session.close()

    asyncio.run(go())
