"""TWS codes the IB adapter did not draw, against the fake TWS with the real ib_async
client: 10197 (the IB user logged in elsewhere takes the live data: quotes stop) and
2110 (TWS cannot reach IB's servers: orders sent do not reach IB)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.domain import ConnectionState as L
from silvertine_tui.events import LogLevel, QuoteEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk

AAPL = "AAPL.SMART"
SERVER = (
    "Connectivity between Trader Workstation and server is broken. It will be restored "
    "automatically."
)


def link(d: Desk, name: str) -> tuple[L, str]:
    status = d.broker.health_state.links[name]
    return status.state, status.detail


async def bids(d: Desk) -> list[Decimal | None]:
    return [
        e.event.payload.bid
        for e in await d.bus.read(d.bus.layout.md("ib"))
        if isinstance(e.event, QuoteEvent)
    ]


# -- 10197: no market data during a competing live session ----------------------------


async def test_a_competing_live_session_degrades_the_market_link_until_data_flows() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.settle()
        assert await bids(d) == [Decimal("150.00")]
        assert link(d, "market")[0] is L.LIVE

        await fake.competing_live_session()
        await d.broker.settle()
        state, detail = link(d, "market")
        assert state is L.DEGRADED, detail
        assert f"no market data for {AAPL}" in detail
        assert "10197: No market data during competing live session" in detail
        assert "Log out of the other session" in detail
        extra = d.broker.health_state.extra
        assert "10197" in str(extra[f"md_problem:{AAPL}"])
        assert extra[f"md_type:{AAPL}"] == "none"
        assert d.broker.health_state.errors["market_data_10197"] == 1
        warned = [s for s in await d.said_in_log(LogLevel.WARNING) if "10197" in s]
        assert len(warned) == 1, warned
        # TWS says it again (one per request, a bunch at once): said once.
        await fake.competing_live_session()
        await d.broker.settle()
        assert len([s for s in await d.said_in_log(LogLevel.WARNING) if "10197" in s]) == 1
        assert link(d, "market")[0] is L.DEGRADED

        # The other session logs out: data flows again on the same subscription.
        await fake.set_quote("AAPL", "150.10", "150.15")
        await d.broker.settle()
        assert (await bids(d))[-1] == Decimal("150.10")
        state, detail = link(d, "market")
        assert state is L.LIVE, detail
        assert "10197" not in detail
        assert f"md_problem:{AAPL}" not in d.broker.health_state.extra
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "live"
        told = [s for s in await d.said_in_log(LogLevel.INFO) if "market data flows again" in s]
        assert len(told) == 1, told


# -- 2110: TWS cannot reach IB's servers ------------------------------------------------


@pytest.mark.parametrize(
    "back", [(2104, "Market data farm connection is OK:usfarm"), (1102, "restored")]
)
async def test_2110_refuses_new_orders_until_tws_reaches_ib_again(back: tuple[int, str]) -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        working = await d.broker.place(d.request(limit="149.50"))
        await d.broker.settle()
        await fake.send_error(2110, SERVER)
        await d.broker.settle()
        state, detail = link(d, "ib")
        assert state is L.DEGRADED, detail
        assert detail.startswith("TWS cannot reach IB's servers (2110: Connectivity between")
        assert "an order sent now would not reach IB" in detail
        assert "if it lasts, check TWS's connection" in detail
        assert d.broker.state is L.DEGRADED
        assert link(d, "market")[0] is L.LIVE  # (quotes: the farms' notices say them)
        assert len(fake.orders) == 1
        with pytest.raises(NotConnected, match="2110"):
            await d.broker.place(d.request(limit="149.00"))
        assert len(fake.orders) == 1  # nothing reached TWS
        await d.broker.cancel(working)  # cancels still go (the kill switch's too)
        await d.broker.settle()
        assert [o.status for o in fake.orders] == ["Cancelled"]

        code, text = back
        await fake.send_error(code, text)
        await d.broker.settle()
        await d.wait_live()
        assert link(d, "ib") == (L.LIVE, "")
        assert await d.broker.place(d.request(limit="149.00"))
        await d.broker.settle()
        assert len(fake.orders) == 2


async def test_2110_after_1102_holds_the_link_once_the_catch_up_is_over() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.connectivity_lost()
        await d.wait(lambda: link(d, "ib")[0] is L.DEGRADED, "1100")
        await fake.send_error(2110, SERVER)  # while 1100 holds: 1100 says the link
        await d.broker.settle()
        assert "1100" in link(d, "ib")[1]
        await fake.connectivity_restored()  # 1102: TWS reaches IB: 2110 over too
        await d.wait_live()
        assert link(d, "ib") == (L.LIVE, "")
        await fake.send_error(2110, SERVER)
        await d.broker.settle()
        state, detail = link(d, "ib")
        assert state is L.DEGRADED
        assert "2110" in detail
        await fake.send_error(2104, "Market data farm connection is OK:usfarm")
        await d.broker.settle()
        assert link(d, "ib") == (L.LIVE, "")


async def test_2110_during_the_catch_up_after_1102_holds_the_link_after_it() -> None:
    """A 2110 that comes while 1102's catch-up runs (the `ib` link DEGRADED for it):
    the catch-up's end does not set the link LIVE over it."""
    async with FakeTws() as fake, desk(fake) as d:
        await fake.connectivity_lost()
        await d.wait(lambda: link(d, "ib")[0] is L.DEGRADED, "1100")
        fake.ignore_next("executions")  # the catch-up waits out its request
        await fake.connectivity_restored()  # 1102
        await d.wait(lambda: "catching up" in link(d, "ib")[1], "the catch-up")
        await fake.send_error(2110, SERVER)
        await d.broker.settle()
        assert "catching up" in link(d, "ib")[1]  # the catch-up's words stay meanwhile
        await d.wait(lambda: "catching up" not in link(d, "ib")[1], "its end", timeout=6.0)
        state, detail = link(d, "ib")
        assert state is L.DEGRADED, detail
        assert "2110" in detail
        await fake.send_error(2104, "Market data farm connection is OK:usfarm")
        await d.broker.settle()
        assert link(d, "ib") == (L.LIVE, "")
