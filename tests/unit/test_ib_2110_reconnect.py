"""2110 (TWS cannot reach IB's servers) across a new socket to TWS.

2110 holds the `ib` link DEGRADED (new orders refused with why, cancels go) until TWS
says it reaches IB again: a farm OK (2104, 2106, 2158) or 1101/1102. The socket to TWS
drops meanwhile and the desk reconnects: TWS, still cut off from IB, says no farm is OK
on the new socket. The rebuild after the reconnect set the `ib` link LIVE all the same,
and a 2110 TWS sent again was taken for the one already said: the desk read LIVE and
sent new orders to a TWS that could not pass them on. A TWS that reaches IB says its
farms are OK as the new socket starts the API: LIVE then.

Against the fake TWS with the real ib_async client; `farm_notices=False` is a TWS that
sends no farm OK when a client connects (it does not reach IB's servers)."""

from __future__ import annotations

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.domain import ConnectionState as L
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk

SERVER = (
    "Connectivity between Trader Workstation and server is broken. It will be restored "
    "automatically."
)
FARM_OK = (2104, "Market data farm connection is OK:usfarm")


def link(d: Desk, name: str) -> tuple[L, str]:
    status = d.broker.health_state.links[name]
    return status.state, status.detail


async def cut_off_then_reconnected(fake: FakeTws, d: Desk) -> None:
    """2110, then the socket drops and the desk is connected again (its rebuild done)."""
    await d.wait_live()
    await fake.send_error(2110, SERVER)
    await d.broker.settle()
    assert link(d, "ib")[0] is L.DEGRADED
    await fake.drop_connections()
    await d.wait(lambda: fake.connects == 2, "the reconnect")
    await d.wait(lambda: link(d, "api")[0] is L.LIVE, "the rebuild's end", timeout=6.0)
    await d.broker.settle()


@pytest.mark.parametrize("said_again", [False, True], ids=["quiet", "2110-again"])
async def test_a_2110_still_holding_keeps_the_ib_link_degraded_after_a_reconnect(
    said_again: bool,
) -> None:
    async with FakeTws(farm_notices=False) as fake, desk(fake) as d:
        await fake.set_quote("AAPL", "150.00", "150.05")
        await cut_off_then_reconnected(fake, d)
        if said_again:  # TWS says it again on the new socket
            await fake.send_error(2110, SERVER)
            await d.broker.settle()
        state, detail = link(d, "ib")
        assert state is L.DEGRADED, detail
        assert detail.startswith("TWS cannot reach IB's servers (2110: Connectivity between")
        assert d.broker.state is L.DEGRADED
        with pytest.raises(NotConnected, match="2110"):
            await d.broker.place(d.request(limit="149.00"))
        assert fake.orders == []  # nothing reached TWS

        await fake.send_error(*FARM_OK)  # TWS reaches IB again
        await d.broker.settle()
        await d.wait_live()
        assert link(d, "ib") == (L.LIVE, "")
        assert await d.broker.place(d.request(limit="149.00"))
        await d.broker.settle()
        assert len(fake.orders) == 1


async def test_a_tws_that_reaches_ib_again_on_the_new_socket_is_live() -> None:
    """The farms OK as the new socket starts the API (2104/2106/2158): 2110 is over."""
    async with FakeTws() as fake, desk(fake) as d:
        await cut_off_then_reconnected(fake, d)
        await d.wait_live()
        assert link(d, "ib") == (L.LIVE, "")
        assert "notice:tws" not in d.broker.health_state.extra
