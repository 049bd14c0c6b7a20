"""A new ticket's account comes from what it was opened on, never from the ticket
before: the broker whose quote it is, else a broker listing the instrument, else the
desk's first account. A ticket on the wrong account goes to the wrong venue."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import Side

from .conftest import Desk
from .test_trading_keys import open_buy_ticket, ticket_of


def paper_and_spot() -> Settings:
    """The desk's paper broker, and a second paper broker (`spot`): SOLUSDT is its
    alone, ETHUSDT both brokers'."""
    common: dict[str, Any] = {
        "account": "main",
        "seed": 7,
        "market": {"autorun": False},
        "latency": {"enabled": False},
    }
    return Settings(
        brokers=[
            PaperBrokerConfig(name="paper", **common),
            PaperBrokerConfig(name="spot", symbols=["SOLUSDT", "ETHUSDT"], **common),
        ]
    )


async def start(desk: Desk, pilot: Any) -> PaperBroker:
    await desk.start(pilot)
    spot = desk.session.brokers[1]
    assert isinstance(spot, PaperBroker)
    await spot.stop_health_loop()
    await spot.step()
    await desk.step(pilot, 1)
    return spot


async def on_spot(desk: Desk, pilot: Any) -> None:
    """A ticket on spot's SOLUSDT: the account the next ticket must not keep."""
    ticket = await open_buy_ticket(desk, pilot, "SOLUSDT.PAPER")
    assert ticket.draft().account == "spot/main"
    await pilot.press("escape")


async def test_a_quote_opens_on_the_first_account_whose_broker_lists_it(make_desk) -> None:
    """SOLUSDT is spot's alone; ETHUSDT both list: the first account in the desk's order,
    after a ticket on spot as before one on paper."""
    desk = make_desk(settings=paper_and_spot())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        listing = desk.app.desk.view.instruments
        assert "ETHUSDT.PAPER" in listing["spot"]
        assert "ETHUSDT.PAPER" in listing["paper"]
        for _ in range(2):
            await on_spot(desk, pilot)
            ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
            assert (ticket.draft().instrument, ticket.draft().account) == (
                "ETHUSDT.PAPER",
                "paper/main",
            )
            await pilot.press("escape")
        await desk.session.close()


async def test_a_ticket_from_nowhere_known_takes_the_first_account(make_desk) -> None:
    """A prefill naming no account (a signal on an instrument no broker quotes or
    lists) takes the desk's first account, not the ticket's last."""
    desk = make_desk(settings=paper_and_spot())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        await on_spot(desk, pilot)
        ticket = ticket_of(desk)
        ticket.prefill(instrument="ZZZUSDT.PAPER", side=Side.SELL, price=Decimal("1"))
        await desk.settle(pilot)
        assert ticket.draft().account == "paper/main"
        await desk.session.close()


async def test_ctrl_u_puts_the_account_back_to_the_first(make_desk) -> None:
    desk = make_desk(settings=paper_and_spot())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        ticket = await open_buy_ticket(desk, pilot, "SOLUSDT.PAPER")
        assert ticket.draft().account == "spot/main"
        await pilot.press("ctrl+u")
        await desk.settle(pilot)
        draft = ticket.draft()
        assert (draft.instrument, draft.account) == ("", "paper/main")
        await desk.session.close()
