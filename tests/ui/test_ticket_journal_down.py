"""A live order the broker would not send because its request could not be journaled
(`JournalDown`, rule `journal_down`) says so on the ticket: nothing was sent, and what
to do. Before, the ticket read `REJECTED: why below`, as if the venue had refused the
order, and toasted "Order not placed".

The desk here is the real app on a real session whose one broker trades real money
(`live: true`, the scripted venue of tests/fakes) on a real `redis-server` the test
kills under it: the bus still reads connected when F9 goes (its watcher looks once a
minute here), so the ticket's own check and the engine's gate pass, and the broker's
write of the request before the send is what fails.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from textual.pilot import Pilot

from silvertine_tui.brokers import BrokerRegistry
from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import ExternalBrokerConfig, Settings
from silvertine_tui.domain import Balance, OrderStatus
from silvertine_tui.engine import Session
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.support.redis_server import RedisServer

from .conftest import FakeClock
from .test_projection_rebuild import quiet_app
from .test_trading_keys import type_into

pytestmark = pytest.mark.redis


def live_session(url: str, prefix: str, clock: FakeClock) -> Session:
    registry = BrokerRegistry(discover=False)
    registry.register("scripted", ScriptedVenue)
    venue = ExternalBrokerConfig(name="venue", type="scripted", account="main", live=True)
    # The watcher would find Redis gone within a second: a minute, so that F9 goes out
    # while the bus still reads connected (as in the moment before it knows).
    options = BusOptions(prefix=prefix, block_ms=50, epoch_check_s=60.0)
    settings = Settings.model_validate(
        {"brokers": [venue.model_dump()], "bus": {"url": url, "prefix": prefix}}
    )
    return Session(
        settings,
        bus=create_bus(url, options),
        registry=registry,
        clock=clock.ns,
        monotonic=clock.monotonic,
    )


async def frames_until(app: SilvertineApp, pilot: Pilot[None], done, what: str) -> None:
    for _ in range(250):
        app.frame()
        await pilot.pause()
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def said(block: TextBlock) -> str:
    return " ".join(block.text.plain.split())


async def fill_ticket(app: SilvertineApp, pilot: Pilot[None]) -> Ticket:
    """`2`: the ticket, typed in: BUY 3 XYZ.SCRIPT LIMIT @ 10.00."""
    await pilot.press("2")
    ticket = app.screen.query_one(Ticket)
    await type_into(pilot, INSTRUMENT.key)
    await pilot.press("tab", "tab", "tab")  # side, type, to the quantity
    for name, value in (("quantity", "3"), ("limit_price", "10.00")):
        field = ticket.query_one(f"#t-{name}")
        field.focus()
        await pilot.pause()
        await type_into(pilot, value)
    await pilot.pause()
    return ticket


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_a_live_order_the_journal_could_not_take_says_not_sent(
    tmp_path: Path, clock: FakeClock, size: tuple[int, int]
) -> None:
    with RedisServer(persistence=True) as server:
        session = live_session(server.url, f"t-jd-{size[0]}", clock)
        app = quiet_app(session, clock, tmp_path / "state.json")
        async with app.run_test(size=size) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await asyncio.wait_for(app.feed_ready.wait(), 10)
            venue = session.brokers[0]
            assert isinstance(venue, ScriptedVenue)
            assert venue.journal_before_send  # real money: journaled before it goes
            venue.venue_balances = [
                Balance(
                    broker="venue",
                    account="main",
                    currency="USD",
                    total=Decimal(1000),
                    available=Decimal(1000),
                )
            ]
            ticket = await fill_ticket(app, pilot)
            draft = ticket.draft()
            assert (draft.instrument, draft.quantity, draft.limit_price) == (
                INSTRUMENT.key,
                "3",
                "10.00",
            )
            status = ticket.query_one("#t-status", TextBlock)
            problems = ticket.query_one("#t-problems", TextBlock)

            await server.akill()
            assert session.bus.stats.connected  # the gate still finds the journal up
            await pilot.press("f9")
            await frames_until(app, pilot, lambda: not ticket.sending, "the answer")
            await frames_until(app, pilot, lambda: said(status) != "", "a status")
            assert venue.sent == [], "a live order went out unjournaled"

            # Said as what it is: nothing went to the venue.
            assert said(status) == "NOT SENT: journal down, why below"
            assert "REJECTED" not in said(status)
            assert status.has_class("-error")
            text = said(problems)
            assert "nothing was sent; send it again once the journal is written" in text
            assert "[journal_down]" in text
            toasts = [n for n in app._notifications if "journal" in n.message]
            assert toasts
            assert {n.title for n in toasts} == {"Order not sent"}
            # The ticket is kept as it was, to send again once the journal is back.
            assert ticket.draft() == draft

            await server.arestart()
            await frames_until(
                app,
                pilot,
                lambda: session.bus.stats.connected and not session.bus.stats.exec_buffered,
                "Redis back",
            )
            clock.advance(1.0)  # past the fire key's debounce
            ticket.query_one("#t-quantity").focus()
            await pilot.press("f9")
            await frames_until(app, pilot, lambda: bool(venue.sent), "the order sent")
            await frames_until(app, pilot, lambda: not ticket.sending, "its answer")
            assert len(venue.sent) == 1
            # The attempt refused is journaled REJECTED once Redis is back (nothing of
            # it waits for an answer); the order sent again carries a new id.
            orders = session.projection.orders

            def rejected() -> list[str]:
                return [c for c, v in orders.items() if v.order.status is OrderStatus.REJECTED]

            await frames_until(app, pilot, lambda: bool(rejected()), "the attempt journaled")
            refused = rejected()
            assert len(refused) == 1
            assert refused[0] != venue.sent[0]
            assert "journal_down" in (orders[refused[0]].order.reason or "")
            assert said(status).startswith(f"sent {venue.sent[0][-8:]}: BUY 3 XYZ.SCRIPT"), said(
                status
            )
            assert "journal_down" not in said(problems)
            await session.close()
