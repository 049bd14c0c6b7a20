"""The modify dialog's change, held in its journal write (Redis stalled) while trading
went HALTED, is not sent (`Broker._refuse_change_if_held`): the desk says so in the
modify's own toast, `Modify not sent` (it read `Modify failed`, a venue's word for
a change that never left the desk), with why and that the order works on unchanged,
and the Orders pane shows the order NEW at its old price again, not PENDING_REPLACE.
The real app on the real session and paper broker; the bus holds one write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from textual.widgets import Input

from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.events import EventBase, OrderUpdateEvent
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.blotter import Blotter

from .conftest import Desk, limit_buy, until

CID = "st000000000000000501"
OLD = Decimal("63500.00")


class HeldWrite(MemoryBus):
    """A memory bus whose one write `picked` takes (set by the test) waits until `go`
    is set (Redis stalled); `held` is set while it waits. Every other write goes as
    before."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held = asyncio.Event()
        self.go = asyncio.Event()
        self.picked: Callable[[EventBase], bool] | None = None

    async def publish(self, event: EventBase) -> str | None:
        if self.picked is not None and self.picked(event):
            self.picked = None
            self.held.set()
            await self.go.wait()
        return await super().publish(event)


def pending_replace(event: EventBase) -> bool:
    return (
        isinstance(event, OrderUpdateEvent)
        and event.payload.client_order_id == CID
        and event.payload.status is OrderStatus.PENDING_REPLACE
    )


async def test_a_change_held_in_its_journal_write_as_trading_halts_is_said_not_sent(
    make_desk,
) -> None:
    desk: Desk = make_desk(bus_type=HeldWrite)
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        await engine.submit(limit_buy(CID, "BTCUSDT.PAPER", "0.05", str(OLD)))
        await desk.settle(pilot)
        assert engine.oms.orders[CID].order.status is OrderStatus.NEW
        desk.app.clear_notifications()

        await pilot.press("3", "home")
        assert desk.app.screen.query_one(Blotter).selected_order() == CID
        await pilot.press("m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        screen.query_one("#m-limit_price", Input).value = "63400.00"
        hold = desk.session.bus
        assert isinstance(hold, HeldWrite)
        hold.picked = pending_replace
        await pilot.press("enter")
        await until(pilot, "the change's PENDING_REPLACE held", hold.held.is_set)
        await engine.set_trading_state(TradingState.HALTED)
        hold.go.set()
        await until(pilot, "the modify's answer", lambda: bool(desk.app._notifications))
        await desk.settle(pilot)

        errors = [(n.title, n.message) for n in desk.app._notifications if n.severity == "error"]
        [(title, message)] = errors
        assert title == "Modify not sent"
        assert message.startswith("trading is HALTED (kill switch)"), message
        assert "the order works on unchanged at its old terms; not sent (order " in message
        # Nothing reached the venue; the desk shows the order working at its old price.
        venue = desk.broker.venue.order(CID)
        assert venue is not None
        assert (venue.status, venue.limit_price) == (OrderStatus.NEW, OLD)
        order = engine.oms.orders[CID].order
        assert (order.status, order.limit_price) == (OrderStatus.NEW, OLD)
        assert order.reason.startswith("modify not sent: trading is HALTED"), order.reason
        await desk.session.close()
