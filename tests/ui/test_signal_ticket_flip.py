"""A signal's ticket or a closing ticket whose side is flipped (`ctrl+s`, or the Side
choice) is no longer that signal's order or that close: its tag is dropped, a close
stops being reduce-only (flipped, it adds to the position), and beside Send says so,
as a move to another symbol or account does. Before, a SELL signal flipped went out
`BUY ... tag signal:meanrev`: the journal credited the strategy with a trade it never
proposed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.domain import Side

from .conftest import Desk, market_buy
from .test_signals_rows import publish, signal_event
from .test_ticket_hidden_state import said, sent
from .test_trading_keys import ticket_of

ETH = "ETHUSDT.PAPER"


async def flip(pilot: Any, desk: Desk, how: str) -> None:
    if how == "ctrl+s":
        await pilot.press("ctrl+s")
    else:  # the Side choice, by the keyboard
        ticket_of(desk).query_one("#t-side").focus()
        await pilot.pause()
        await pilot.press("right")
    await desk.settle(pilot)


@pytest.mark.parametrize("how", ["ctrl+s", "side choice"])
async def test_a_signal_ticket_flipped_is_no_longer_the_signals(make_desk, how: str) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, signal_event(desk, "0.1", side=Side.SELL, note="2 sigma above"))
        await pilot.press("8", "enter")
        await desk.settle(pilot)
        ticket = ticket_of(desk)
        assert (ticket.draft().side, ticket.draft().tag) == (Side.SELL, "signal:meanrev")
        await flip(pilot, desk, how)
        draft = ticket.draft()
        assert (draft.side, draft.tag, draft.reduce_only) == (Side.BUY, "", False)
        assert said(ticket, "status") == "another side: tag signal:meanrev dropped"

        # Flipped back it stays untagged: the trader built it, and it says so.
        await flip(pilot, desk, how)
        assert (ticket.draft().side, ticket.draft().tag) == (Side.SELL, "")
        assert said(ticket, "status") == "another side: tag signal:meanrev dropped"
        await flip(pilot, desk, how)

        desk.clock.advance(1.0)
        await pilot.press("f9")
        await desk.settle(pilot)
        assert [(r.side, r.quantity, r.tag) for r in await sent(desk)] == [
            (Side.BUY, Decimal("0.1"), "")
        ]
        await desk.session.close()


async def test_a_close_flipped_is_no_longer_reduce_only(make_desk) -> None:
    """The close of a long (a reduce-only SELL) flipped is a BUY that adds to the
    position: not reduce-only, not tagged `close`, and said beside Send."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.engine.submit(market_buy("st000000000000000901", ETH, "1"))
        await desk.step(pilot, 2)
        await pilot.press("4", "x")
        await desk.settle(pilot)
        ticket = ticket_of(desk)
        draft = ticket.draft()
        assert (draft.side, draft.tag, draft.reduce_only) == (Side.SELL, "close", True)
        await pilot.press("ctrl+s")
        await desk.settle(pilot)
        draft = ticket.draft()
        assert (draft.side, draft.tag, draft.reduce_only) == (Side.BUY, "", False)
        assert said(ticket, "status") == "another side: not reduce-only, tag close dropped"
        assert "reduce-only" not in said(ticket, "preview")
        assert said(ticket, "problems") == ""
        desk.clock.advance(1.0)
        await pilot.press("f9")
        await desk.settle(pilot)
        buys = [r for r in await sent(desk) if r.client_order_id != "st000000000000000901"]
        assert [(r.side, r.quantity, r.tag, r.reduce_only) for r in buys] == [
            (Side.BUY, Decimal("1"), "", False)
        ]
        await desk.session.close()
