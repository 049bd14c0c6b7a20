"""The ticket offers what the selected broker can do, and nothing else: its order
types, the time in force each takes there, post-only where it has it. A broker switch
filters again and never leaves an unsupported choice selected. The broker's link health
shows per link, and an order path that is down says why in the ticket (issue 11)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import (
    Capabilities,
    ConnectionState,
    OrderType,
    TimeInForce,
)
from silvertine_tui.events import OrderRequestEvent
from silvertine_tui.ui.widgets.choice import Choice
from silvertine_tui.ui.widgets.health import HealthPane
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk
from .test_trading_keys import open_buy_ticket

# A spot venue that takes less than paper: no plain STOP nor take-profits, no DAY, MARKET
# only IOC/FOK, post-only.
SPOT = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT}),
    tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
    market_tifs=frozenset({TimeInForce.IOC, TimeInForce.FOK}),
    post_only=True,
    short_selling=False,
)


def two_brokers() -> Settings:
    """The desk's paper broker plus a second one (`spot`) that takes less."""
    common: dict[str, Any] = {
        "account": "main",
        "seed": 7,
        "market": {"autorun": False},
        "latency": {"enabled": False},
    }
    return Settings(
        brokers=[
            PaperBrokerConfig(name="paper", **common),
            PaperBrokerConfig(name="spot", **common),
        ]
    )


def spot_desk(make_desk: Any) -> Desk:
    desk: Desk = make_desk(settings=two_brokers())
    spot = desk.session.brokers[1]
    assert isinstance(spot, PaperBroker)
    spot.capabilities = SPOT
    return desk


def choice(ticket: Ticket, name: str) -> Choice:
    return ticket.query_one(f"#t-{name}", Choice)


def shown(ticket: Ticket, name: str) -> bool:
    return not ticket.query_one(f"#row-{name}").has_class("-unused")


async def start(desk: Desk, pilot: Any) -> None:
    await desk.start(pilot)
    await desk.session.brokers[1].stop_health_loop()
    await desk.step(pilot, 1)


async def switch_account(desk: Desk, pilot: Any, ticket: Ticket, account: str) -> None:
    choice(ticket, "account").value = account
    await desk.settle(pilot)


async def test_the_ticket_offers_only_the_selected_brokers_types_and_tifs(make_desk) -> None:
    desk = spot_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        assert choice(ticket, "order_type").options == [t.value for t in OrderType]
        assert "DAY" in choice(ticket, "tif").options
        assert not shown(ticket, "post_only")  # paper has no post-only orders

        # A STOP with DAY on paper; then the trader picks the spot broker.
        choice(ticket, "order_type").value = "STOP"
        await desk.settle(pilot)
        choice(ticket, "tif").value = "DAY"
        await desk.settle(pilot)
        assert (ticket.draft().order_type, ticket.draft().tif) == (
            OrderType.STOP,
            TimeInForce.DAY,
        )
        await switch_account(desk, pilot, ticket, "spot/main")
        assert choice(ticket, "order_type").options == ["MARKET", "LIMIT", "STOP_LIMIT"]
        assert choice(ticket, "tif").options == ["GTC", "IOC", "FOK"]
        draft = ticket.draft()
        assert (draft.order_type, draft.tif) == (OrderType.LIMIT, TimeInForce.GTC)
        assert shown(ticket, "post_only")

        # MARKET there takes IOC or FOK only, and no post-only.
        choice(ticket, "order_type").value = "MARKET"
        await desk.settle(pilot)
        assert choice(ticket, "tif").options == ["IOC", "FOK"]
        assert ticket.draft().tif is TimeInForce.IOC
        assert not shown(ticket, "post_only")

        # Back to paper: everything is offered again, the choices kept.
        await switch_account(desk, pilot, ticket, "paper/main")
        assert choice(ticket, "order_type").options == [t.value for t in OrderType]
        assert (ticket.draft().order_type, ticket.draft().tif) == (
            OrderType.MARKET,
            TimeInForce.IOC,
        )
        # Cycling through every choice never lands on one the broker refuses.
        await switch_account(desk, pilot, ticket, "spot/main")
        for _ in range(6):
            choice(ticket, "order_type").action_step(1)
            await desk.settle(pilot)
            for _ in range(4):
                choice(ticket, "tif").action_step(1)
                await desk.settle(pilot)
                draft = ticket.draft()
                assert SPOT.issues("spot", draft.order_type, draft.tif) == []
        await desk.session.close()


async def test_a_post_only_order_goes_out_as_post_only(make_desk) -> None:
    desk = spot_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await switch_account(desk, pilot, ticket, "spot/main")
        ticket.query_one("#t-quantity").value = "0.01"  # type: ignore[attr-defined]
        ticket.query_one("#t-limit_price").value = "3400"  # type: ignore[attr-defined]
        choice(ticket, "post_only").value = "yes"
        await desk.settle(pilot)
        assert ticket.draft().post_only
        checked = ticket.run_check()
        assert checked.ok, checked.problems
        await pilot.press("f9")
        await desk.settle(pilot)
        entries = await desk.session.bus.read(desk.session.bus.layout.exec("spot", "main"))
        requests = [e.event.payload for e in entries if isinstance(e.event, OrderRequestEvent)]
        assert [(r.post_only, r.limit_price) for r in requests] == [(True, Decimal("3400"))]
        await desk.session.close()


async def test_a_post_only_ioc_is_refused_on_the_ticket_and_not_sent(make_desk) -> None:
    """Post-only rests on the book; IOC never rests: at Binance it went out as a
    LIMIT_MAKER working until cancelled. The ticket says so on the row, sends nothing."""
    desk = spot_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await switch_account(desk, pilot, ticket, "spot/main")
        ticket.query_one("#t-quantity").value = "0.01"  # type: ignore[attr-defined]
        ticket.query_one("#t-limit_price").value = "3400"  # type: ignore[attr-defined]
        choice(ticket, "post_only").value = "yes"
        choice(ticket, "tif").value = "IOC"
        await desk.settle(pilot)
        checked = ticket.run_check()
        assert [(p.field, p.rule) for p in checked.problems] == [("post_only", "resting_only")]
        await pilot.press("f9")
        await desk.settle(pilot)
        assert "post-only rests on the book: not with IOC" in str(
            ticket.query_one("#t-problems").render()
        )
        entries = await desk.session.bus.read(desk.session.bus.layout.exec("spot", "main"))
        assert not [e for e in entries if isinstance(e.event, OrderRequestEvent)]
        await desk.session.close()


async def test_the_engine_refuses_what_the_broker_cannot_do_before_sending(make_desk) -> None:
    desk = spot_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await switch_account(desk, pilot, ticket, "spot/main")
        # The choice is forced past the ticket's filter, as a stale ticket could.
        tif = choice(ticket, "tif")
        tif.options = [*tif.options, "DAY"]
        tif.value = "DAY"
        ticket.query_one("#t-quantity").value = "0.01"  # type: ignore[attr-defined]
        await desk.settle(pilot)
        checked = ticket.run_check()
        assert [(p.field, p.rule) for p in checked.problems] == [("tif", "supported")]
        assert "spot does not take DAY on LIMIT orders" in checked.problems[0].message
        await pilot.press("f9")
        await desk.settle(pilot)
        entries = await desk.session.bus.read(desk.session.bus.layout.exec("spot", "main"))
        assert not [e for e in entries if isinstance(e.event, OrderRequestEvent)]
        await desk.session.close()


async def test_an_order_path_that_is_down_says_why_in_the_ticket(make_desk) -> None:
    desk = spot_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        spot = desk.session.brokers[1]
        # Links like a real venue's: orders need REST and the user stream.
        spot.order_links = ("rest", "user")
        await spot.set_link("rest", ConnectionState.LIVE)
        await spot.set_link("market", ConnectionState.LIVE)
        await spot.set_link("user", ConnectionState.DISCONNECTED, "user stream dropped")
        await desk.settle(pilot)
        health = desk.app.screen.query_one(HealthPane).text.plain
        spot_lines = health[health.index("spot/main DISCONNECTED") :]
        assert "\n  rest LIVE\n  market LIVE\n  user DISCONNECTED user stream dropped" in (
            spot_lines
        )
        # Paper has no links: none shown.
        assert "paper/main LIVE\n  lat -  last <1s  reconn 0\n  rate -\nspot" in health
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await switch_account(desk, pilot, ticket, "spot/main")
        ticket.query_one("#t-quantity").value = "0.01"  # type: ignore[attr-defined]
        await desk.settle(pilot)
        checked = ticket.run_check()
        path = [p for p in checked.problems if p.rule == "order_path"]
        assert [p.field for p in path] == ["account"]
        # One sentence: what happened, and what to do.
        assert path[0].message == (
            "orders cannot go out now (user DISCONNECTED: user stream dropped); send the "
            "order again once spot/main is LIVE in the health pane"
        )
        await pilot.press("f9")
        await desk.settle(pilot)
        assert "user stream dropped" in str(ticket.query_one("#t-problems").render())
        await desk.session.close()
