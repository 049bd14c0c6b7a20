"""Words read from the bus or a venue never reach the terminal as control characters.

A strategy's name or note, a venue's reject reason, a broker's health message, an
engine's log line: each is written by someone else, and each was drawn as it came. An
escape sequence in one (`ESC[2J ESC[H`) cleared the terminal and wrote over the desk
(a tmux drive showed `PWNED` over the quotes), and one could as well move the cursor
onto a price and draw another. Every control character is now drawn as a visible one
of the same width (`ui.format.shown`): `␛[2J`.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.widgets import Input

from silvertine_tui.domain import (
    ConnectionState,
    Fill,
    Instrument,
    OrderStatus,
    OrderUpdate,
    Side,
)
from silvertine_tui.events import (
    BrokerProfile,
    BrokerProfileEvent,
    FillEvent,
    Health,
    HealthEvent,
    Log,
    LogEvent,
    LogLevel,
    OrderUpdateEvent,
    Signal,
    SignalEvent,
)
from silvertine_tui.ui.format import shown
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from silvertine_tui.ui.screens.main import Pane

from .conftest import Desk, limit_buy

EVIL = "x\x1b[2J\x1b[H\x1b[31mPWNED\x1b]52;c;cHduZWQ=\x07\x9b1A\u202eoops\ty\nz\x00"


BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def controls_on_screen(desk: Desk) -> list[str]:
    """Every control character in what the compositor would send for the screen."""
    found = []
    for strip in desk.app.screen._compositor.render_strips():
        for segment in strip:
            found += [c for c in segment.text if unicodedata.category(c) == "Cc" or c == "\u202e"]
    return found


async def test_words_from_the_bus_are_drawn_without_their_control_characters(
    make_desk,
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        bus = desk.session.bus
        cid = "st000000000000000501"
        await desk.session.engine.submit(limit_buy(cid, "ETHUSDT.PAPER", "1", "3400.00"))
        await desk.settle(pilot)
        ts = desk.clock.ns()
        for event in (
            SignalEvent.create(
                "strategy:x",
                Signal(
                    strategy=f"s{EVIL}",
                    instrument="ETHUSDT.PAPER",
                    side=Side.SELL,
                    quantity=Decimal("0.5"),
                    note=EVIL,
                ),
                ts=ts,
            ),
            LogEvent.create("engine", Log(level=LogLevel.ERROR, message=EVIL), ts=ts),
            HealthEvent.create(
                "broker:paper/main",
                Health(
                    component="broker:paper/main",
                    state=ConnectionState.DEGRADED,
                    message=EVIL,
                ),
                ts=ts,
            ),
            OrderUpdateEvent.create(
                "paper/main",
                OrderUpdate(client_order_id=cid, status=OrderStatus.REJECTED, reason=EVIL),
                ts=ts,
            ),
        ):
            await bus.publish(event)
        await desk.step(pilot, 1)
        await pilot.pause(0.2)  # the toasts mount
        screen = desk.app.screen
        text = "".join(s.text for strip in screen._compositor.render_strips() for s in strip)
        assert "␛[2J␛[H␛[31mPWNED" in text  # said, visibly, in the Log pane or a toast
        assert controls_on_screen(desk) == []

        await pilot.press("8")  # the Signals pane
        await desk.settle(pilot)
        assert controls_on_screen(desk) == []
        await pilot.press("6")  # the Health pane
        await desk.settle(pilot)
        assert controls_on_screen(desk) == []

        view = desk.session.engine.oms.get(cid)
        assert view is not None
        desk.app.push_screen(OrderHistoryScreen(view))
        await desk.settle(pilot)
        assert controls_on_screen(desk) == []
        await desk.session.close()


@given(st.text())
def test_shown_text_has_no_control_and_keeps_every_other_character(text: str) -> None:
    safe = shown(text)
    assert len(safe) == len(text)
    assert not any(unicodedata.category(c) == "Cc" for c in safe)
    for was, now in zip(text, safe, strict=True):
        if unicodedata.category(was) != "Cc" and was not in BIDI_CONTROLS:
            assert now == was
    assert cell_len(safe) >= cell_len(text)  # a control drew nothing; its picture, a cell
    lines = shown(text, lines=True)
    assert lines.count("\n") == text.count("\n")
    assert not any(unicodedata.category(c) == "Cc" and c != "\n" for c in lines)


async def test_a_currency_and_a_symbol_from_the_bus_in_a_pane_edge_and_the_ticket(
    make_desk,
) -> None:
    """A currency from a broker's profile on the bus is drawn on the Positions pane's
    bottom edge, which Textual read as markup (`U[/x]SD` stopped the app) and drew
    with its escapes; a signal's symbol is put into the ticket's Symbol field, drawn
    as it came. Both are shown (`␛`), the markup as text."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        bus = desk.session.bus
        ts = desk.clock.ns()
        odd = Instrument(
            symbol="X",
            venue="EVIL",
            quote_currency="U[/x]S\x1b[2JD",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("1"),
        )
        await bus.publish(
            BrokerProfileEvent.create(
                "evil", BrokerProfile(broker="evil", instruments=(odd,)), ts=ts
            )
        )
        fill = Fill(
            exec_id="x-e",
            client_order_id="st-elsewhere-9",
            broker="paper",
            account="main",
            instrument="X.EVIL",
            side=Side.BUY,
            quantity=Decimal("1"),
            price=Decimal("1"),
        )
        await bus.publish(FillEvent.create("paper/main", fill, ts=ts))
        await bus.publish(
            SignalEvent.create(
                "strategy:x",
                Signal(
                    strategy="x",
                    instrument="ETH\x1b[2J\x1b[HPWNED.PAPER",
                    side=Side.SELL,
                    quantity=Decimal("0.25"),
                    price=Decimal("3550.00"),
                ),
                ts=ts,
            )
        )
        await desk.settle(pilot)
        await pilot.press("4")
        await desk.settle(pilot)
        assert desk.app.is_running
        edge = str(desk.app.screen.query_one("#pane-positions", Pane).border_subtitle)
        assert "U[/x]S␛[2JD" in edge.replace("\\[", "[")
        assert controls_on_screen(desk) == []

        await pilot.press("8", "enter")  # the signal's ticket
        await desk.settle(pilot)
        symbol = desk.app.screen.query_one("#t-instrument", Input).value
        assert symbol == "ETH␛[2J␛[HPWNED.PAPER"
        assert controls_on_screen(desk) == []
        await desk.session.close()
