"""An order the desk journaled and then held back itself, right before the venue would
have had it (its claim on the broker lapsed while Redis stalled under the journal
writes: `Broker.send_guard`), reads NOT SENT on the ticket and "Order not sent" in its
toast. Nothing left the desk. It read `REJECTED: why below` and "Order not placed",
the words of a venue's rejection (the Binance and IB drills: F9 as Redis was stopped).
On a real Redis, SIGSTOPped; the session on the real clock (its claims lapse by it)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from textual.widgets import Input

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine import Session
from silvertine_tui.ui.widgets.text import TextBlock
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, make_settings
from .test_projection_rebuild import quiet_app
from .test_trading_keys import open_buy_ticket, type_into

pytestmark = pytest.mark.redis


async def test_an_order_held_back_by_the_desk_reads_not_sent(tmp_path: Path) -> None:
    clock = FakeClock()
    with RedisServer() as server:
        base = make_settings()
        settings = Settings(brokers=base.brokers, engine={"claim_ttl_s": 1.0})
        options = BusOptions(prefix="t-send-refused", block_ms=50, epoch_check_s=0.1)
        session = Session(settings, bus=create_bus(server.url, options))
        app = quiet_app(session, clock, tmp_path / "state.json")
        desk = Desk(app, session, clock)
        pid = server.pid
        assert pid is not None
        stopped = False
        try:
            async with app.run_test(size=(120, 36), notifications=True) as pilot:
                await desk.start(pilot)
                await desk.step(pilot, 2)
                ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
                ticket.query_one("#t-quantity", Input).focus()
                await type_into(pilot, "0.01")
                await pilot.pause()
                os.kill(pid, signal.SIGSTOP)
                stopped = True
                await pilot.press("f9")
                status = ticket.query_one("#t-status", TextBlock)
                for _ in range(300):  # the bus gives up on the write, the claim lapsed
                    await asyncio.sleep(0.1)
                    if status.text.plain.startswith(("NOT SENT", "REJECTED", "sent ")):
                        break
                os.kill(pid, signal.SIGCONT)
                stopped = False
                await pilot.pause()
                said = status.text.plain
                assert said.startswith("NOT SENT: held by this desk, why below"), said
                assert "REJECTED" not in said
                assert status.has_class("-error")
                await pilot.pause()
                listed = " ".join(ticket.query_one("#t-problems", TextBlock).text.plain.split())
                assert "not sent: " in listed, listed
                assert "could not renew its claim" in listed, listed
                assert "[SendRefused]" in listed, listed
                titles = [n.title for n in app._notifications]
                assert "Order not sent" in titles, titles
                assert "Order not placed" not in titles, titles
                # The journal ends it REJECTED, "not sent": the venue never had it.
                assert await desk.broker.open_orders() == []
                await desk.settle(pilot)
                [view] = session.projection.orders.values()
                assert view.order.status is OrderStatus.REJECTED
                assert (view.order.reason or "").startswith("not sent: ")
                await session.close()
        finally:
            if stopped:
                os.kill(pid, signal.SIGCONT)
