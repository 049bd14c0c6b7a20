"""The Signals pane: one row per signal on the bus, the newest on top and selected
until the trader moves the cursor, the signal selected never swapped for another
under the cursor, and what is out of view counted on the pane's bottom edge.

Before: two signals with one `event_id` (two strategies each numbering theirs from
"1"; an outside writer chooses it freely) were one row, the newer replacing the older
under the cursor, so `enter` opened a ticket for a signal the trader had not
selected; the rows were oldest first with nothing saying that newer ones were below
the fold, and `enter` took the oldest."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from silvertine_tui.domain import Side
from silvertine_tui.events import Signal, SignalEvent
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.signals import Signals

from .conftest import Desk
from .test_trading_keys import ticket_of

ETH = "ETHUSDT.PAPER"


def signal_event(
    desk: Desk,
    quantity: str,
    *,
    strategy: str = "meanrev",
    note: str = "",
    side: Side = Side.BUY,
    event_id: str | None = None,
) -> SignalEvent:
    event = SignalEvent.create(
        f"strategy:{strategy}",
        Signal(
            strategy=strategy,
            instrument=ETH,
            side=side,
            quantity=Decimal(quantity),
            price=Decimal("3500.00"),
            note=note,
        ),
        ts=desk.clock.ns(),
    )
    if event_id is not None:  # as an outside writer may number its signals
        event = event.model_copy(update={"event_id": event_id})
    return event


async def publish(desk: Desk, pilot: Any, *events: SignalEvent) -> None:
    for event in events:
        desk.clock.advance(1.0)
        # Made as it is published: a signal's age runs from the older of its own time
        # and the bus's (`SignalRow.at_ms`).
        await desk.session.bus.publish(event.model_copy(update={"ts": desk.clock.ns()}))
    await desk.settle(pilot)


def pane_of(desk: Desk) -> Signals:
    return desk.app.screen.query_one(Signals)


def column(signals: Signals, name: str) -> list[str]:
    return [signals.get_cell(key, name).plain for key in signals.row_keys]


def selected_note(signals: Signals) -> str:
    row = signals.selected_signal()
    assert row is not None, "no signal selected"
    return row.signal.note


def bottom_edge(desk: Desk) -> str:
    subtitle = desk.app.screen.query_one("#pane-signals", Pane).border_subtitle
    return str(subtitle) if subtitle is not None else ""


async def test_two_signals_with_one_event_id_are_two_rows(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(
            desk,
            pilot,
            signal_event(desk, "0.25", strategy="alpha", note="alpha's", event_id="1"),
            signal_event(desk, "5", strategy="beta", note="beta's", event_id="1"),
        )
        signals = pane_of(desk)
        assert sorted(column(signals, "strategy")) == ["alpha", "beta"]
        assert sorted(column(signals, "qty")) == ["0.25", "5"]
        await desk.session.close()


async def test_a_new_signal_never_replaces_the_one_selected(make_desk) -> None:
    """The trader selects alpha's signal; beta's, with the same event id, arrives:
    `enter` still opens alpha's."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, signal_event(desk, "0.25", strategy="alpha", event_id="s-1"))
        await pilot.press("8")
        await desk.settle(pilot)
        assert pane_of(desk).selected_signal() is not None
        await publish(desk, pilot, signal_event(desk, "5", strategy="beta", event_id="s-1"))
        await pilot.press("enter")
        await desk.settle(pilot)
        draft = ticket_of(desk).draft()
        assert (draft.quantity, draft.tag) == ("0.25", "signal:alpha")
        await desk.session.close()


async def test_the_newest_signal_is_on_top_and_selected(make_desk) -> None:
    """30 signals: the newest is the first row, in view and selected when the trader
    comes to the pane, and `enter` takes it; the older ones below are counted."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(
            desk, pilot, *(signal_event(desk, str(n), note=f"#{n}") for n in range(1, 31))
        )
        await pilot.press("8")
        await desk.settle(pilot)
        signals = pane_of(desk)
        assert column(signals, "note")[:3] == ["#30", "#29", "#28"]
        assert selected_note(signals) == "#30"
        shown = signals.visible_range()
        assert signals.cursor_row in shown
        assert bottom_edge(desk) == f"{30 - len(shown)} older below"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert ticket_of(desk).draft().quantity == "30"
        await desk.session.close()


async def test_signals_arriving_leave_the_trader_on_the_signal_selected(make_desk) -> None:
    """In the pane the cursor stays on its signal as newer ones come in above it (they
    are counted when out of view); `home` takes it to the newest. Out of the pane,
    untouched, it follows the newest."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(
            desk, pilot, *(signal_event(desk, str(n), note=f"#{n}") for n in range(1, 11))
        )
        await pilot.press("8")
        await desk.settle(pilot)
        signals = pane_of(desk)
        rows = signals.rows_on_screen
        assert rows < 10, "the pane shows every signal: nothing to scroll"

        # Read the newest: another comes while the trader is in the pane.
        assert selected_note(signals) == "#10"
        await publish(desk, pilot, signal_event(desk, "11", note="#11"))
        assert column(signals, "note")[:2] == ["#11", "#10"]
        assert selected_note(signals) == "#10"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert ticket_of(desk).draft().quantity == "10"

        # Down in the list, scrolled: newer ones come in above the view, counted.
        await pilot.press("escape", "8", "end")
        await desk.settle(pilot)
        assert selected_note(signals) == "#1"
        on_screen = {signals.get_cell(k, "note").plain for k in signals.visible_keys()}
        await publish(
            desk, pilot, signal_event(desk, "12", note="#12"), signal_event(desk, "13", note="#13")
        )
        assert selected_note(signals) == "#1"
        assert signals.cursor_row in signals.visible_range()
        assert {signals.get_cell(k, "note").plain for k in signals.visible_keys()} == on_screen
        above = signals.visible_range().start
        assert above == 13 - rows
        assert bottom_edge(desk) == f"{above} newer above"

        # `home`: the newest again, and following.
        await pilot.press("home")
        await desk.settle(pilot)
        assert selected_note(signals) == "#13"
        assert bottom_edge(desk) == f"{13 - rows} older below"

        # Out of the pane, the cursor untouched: it follows the newest.
        await pilot.press("1")
        await desk.settle(pilot)
        await publish(desk, pilot, signal_event(desk, "14", note="#14"))
        assert selected_note(signals) == "#14"
        assert signals.visible_range().start == 0
        await desk.session.close()


async def test_a_cursor_put_on_a_signal_stays_there_out_of_the_pane(make_desk) -> None:
    """Moved by the trader, the cursor stays on its signal when the trader leaves the
    pane and signals keep coming: it was put there."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, *(signal_event(desk, str(n), note=f"#{n}") for n in range(1, 4)))
        await pilot.press("8", "down")
        await desk.settle(pilot)
        signals = pane_of(desk)
        assert selected_note(signals) == "#2"
        await pilot.press("1")
        await publish(desk, pilot, signal_event(desk, "4", note="#4"))
        assert selected_note(signals) == "#2"
        await pilot.press("8", "enter")
        await desk.settle(pilot)
        assert ticket_of(desk).draft().quantity == "2"
        await desk.session.close()


async def test_the_side_and_the_symbol_are_apart_on_screen(make_desk) -> None:
    """What the terminal gets for a SELL signal's row at 120x36: a space each side of
    every cell, so `SELL` and the symbol are two columns apart. (A viewer of the SVG
    snapshots, librsvg 2.54, drops the no-break spaces that lead a text run and draws
    `SELLETHUSDT.PAPER`; it draws the Positions pane's `1.53,500.30` alike.)"""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, signal_event(desk, "0.5", side=Side.SELL, note="2 sigma"))
        signals = pane_of(desk)
        shown = signals.shown_columns
        assert shown[shown.index("side") + 1] == "symbol", shown
        line = signals.render_line(1).text
        assert f" SELL  {ETH} " in line, line
        await desk.session.close()
