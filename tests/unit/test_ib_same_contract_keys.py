"""Two keys for one IB contract (`AAPL` on SMART and `AAPL.NASDAQ`: one conId).

ib_async keys a ticker by the contract's conId, so both subscriptions shared one
ticker: only the first key was ever quoted (the other had no mark for the collar), and
unsubscribing one cancelled the other's request. The adapter's conId -> key map kept
the last key, so IB's position of the contract (and a reconcile's fills) went to the
key the desk did not trade. Now the second key for a contract is refused and named in
the `symbols` link; the first one is quoted and traded, and everything IB reports for
the contract is that key's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import PositionEvent, QuoteEvent
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, statuses

L = ConnectionState
SAID = "AAPL.NASDAQ is the same IB contract (conId 265598) as AAPL.SMART: configure one of them"


async def quoted(d: Desk) -> set[str]:
    return {
        e.event.payload.instrument
        for e in await d.bus.read(d.bus.layout.md("ib"))
        if isinstance(e.event, QuoteEvent)
    }


async def test_the_second_key_of_a_contract_is_refused_and_named_the_first_quoted() -> None:
    async with FakeTws() as fake, desk(fake, symbols=["AAPL", "AAPL.NASDAQ"]) as d:
        found = await d.broker.instruments()
        assert "AAPL.SMART" in found
        assert "AAPL.NASDAQ" not in found
        link = d.broker.health_state.links["symbols"]
        assert link.state is L.DEGRADED
        assert SAID in link.detail, link.detail
        links = d.broker.health_state.links
        assert (links["api"].state, links["ib"].state) == (L.LIVE, L.LIVE)  # orders go
        # One subscription, the first key's, and it is quoted.
        await d.broker.settle()  # (TWS has read every request sent before)
        assert sorted(d.broker.market.contracts) == ["AAPL.SMART"]
        assert len(fake.requests_of(m.REQ_MKT_DATA)) == 1
        await fake.set_quote("AAPL", "151.00", "151.05")
        await d.broker.settle()
        assert await quoted(d) == {"AAPL.SMART"}
        # Asked for by itself (a ticket, a subscribe): refused the same way, TWS not asked.
        details = len(fake.requests_of(m.REQ_CONTRACT_DETAILS))
        with pytest.raises(OrderRejected, match=r"same IB contract \(conId 265598\)"):
            await d.broker.instrument("AAPL.NASDAQ")
        with pytest.raises(OrderRejected, match="same IB contract"):
            await d.broker.subscribe(["AAPL.NASDAQ"])
        assert len(fake.requests_of(m.REQ_CONTRACT_DETAILS)) == details
        assert sorted(d.broker.market.contracts) == ["AAPL.SMART"]


async def test_an_order_on_the_refused_key_is_refused_before_anything_is_journaled() -> None:
    async with FakeTws() as fake, desk(fake, symbols=["AAPL", "AAPL.NASDAQ"]) as d:
        before = len(await d.events())
        with pytest.raises(OrderRejected, match=r"AAPL\.NASDAQ is the same IB contract"):
            await d.broker.place(d.request(key="AAPL.NASDAQ"))
        assert len(await d.events()) == before
        assert fake.orders == []


async def test_fills_and_the_position_of_the_contract_are_the_kept_keys() -> None:
    """The conId -> key map kept the last key looked up: IB's position of AAPL was
    published as AAPL.NASDAQ while the desk's order and fill were AAPL.SMART's (two
    positions for one holding, neither right)."""
    async with FakeTws() as fake, desk(fake, symbols=["AAPL", "AAPL.NASDAQ"]) as d:
        coid = await d.broker.place(d.request(qty="3", limit="150.05"))
        await fake.fill(fake.orders[0].order_id)
        await d.wait_journal(lambda ev: OrderStatus.FILLED in statuses(ev, coid), "FILLED")
        await d.broker.settle()
        events = await d.events()
        published = {e.payload.instrument for e in events if isinstance(e, PositionEvent)}
        assert published == {"AAPL.SMART"}
        held = {p.instrument: p.quantity for p in await d.broker.positions()}
        assert held == {"AAPL.SMART": Decimal(3)}
        report = await d.broker.reconcile()
        assert {f.instrument for f in report.fills} == {"AAPL.SMART"}
        assert {p.instrument for p in report.positions} == {"AAPL.SMART"}


async def test_the_order_of_the_config_says_which_key_is_kept() -> None:
    async with FakeTws() as fake, desk(fake, symbols=["AAPL.NASDAQ", "AAPL"]) as d:
        assert sorted(d.broker.market.contracts) == ["AAPL.NASDAQ"]
        detail = d.broker.health_state.links["symbols"].detail
        assert (
            "AAPL.SMART is the same IB contract (conId 265598) as AAPL.NASDAQ: "
            "configure one of them"
        ) in detail, detail
        await fake.set_quote("AAPL", "151.00", "151.05")
        await d.broker.settle()
        assert await quoted(d) == {"AAPL.NASDAQ"}
