"""Three LOWs of a trader's drill of the desk against the fake TWS, each against the
fake TWS with the real ib_async client (nothing of ours mocked).

D3. With TWS unreachable (killed -9: nothing listens; or stopped until the watchdog
drops its socket) the Health pane read `api DISCONNECTED no TWS or IB Gateway listening
...` with `ib LIVE` under it: TWS's own link to IB is TWS's to say, and nothing of TWS
is heard then. The `ib` link is DISCONNECTED "not known while TWS is unreachable (as
last heard: ...)" until the desk has reconnected and TWS says it again.

D5. A pacing answer to an order was counted twice: `pacing_100` as it came and
`tws_100` as the order's error (Health read `errors 25: pacing_100 6, tws_100 6, ...`
for 6 pacing answers); a market data pacing answer likewise as `market_data_<code>`.
Each is counted once, as `pacing_<code>`.

D8. The toast `Order sent, no answer yet: no answer from TWS to order
stmxddgy451jjetida24 in 5s` named the order by its whole client id, where the desk
names an order by its short id everywhere (`domain.ids.short_id`): the ticket shows
the adapter's words of a place as they are, so they name the order short. (A cancel's
and a modify's errors keep the whole id: the desk's toasts and the kill switch's
report find the order in them by it and say it short: `ui.screens.main.failed_text`,
`engine.cancels._by_reason`.)
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.brokers import BrokerTimeout, RateLimited
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.domain.ids import short_id
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, statuses, updates

L = ConnectionState
S = OrderStatus

UNKNOWN = "not known while TWS is unreachable"


def link(d: Desk, name: str) -> tuple[L, str]:
    found = d.broker.health_state.links[name]
    return found.state, found.detail


async def published(d: Desk, name: str) -> tuple[str, str]:
    """The link as the broker's last health event says it (what the Health pane reads)."""
    last = (await d.health())[-1]
    metrics = last.metrics
    return str(metrics.get(f"link:{name}")), str(metrics.get(f"link_detail:{name}", ""))


# -- D3: the ib link while TWS is unreachable ------------------------------------------


async def test_with_tws_killed_the_ib_link_is_not_known_then_heard_again() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await d.wait_live()
        port = fake.port
        assert link(d, "ib") == (L.LIVE, "")
        await fake.stop()  # killed -9: the socket breaks and nothing listens
        await d.wait(
            lambda: "no TWS or IB Gateway listening" in link(d, "api")[1], "the refused reconnect"
        )
        state, detail = link(d, "ib")
        assert state is L.DISCONNECTED, detail
        assert detail.startswith(f"{UNKNOWN} (as last heard: LIVE)"), detail
        assert "once the desk reconnects" in detail
        assert await published(d, "ib") == ("DISCONNECTED", detail)
        await fake.start(port)  # TWS back: the first answer after the reconnect says it
        await d.wait_live()
        assert link(d, "ib") == (L.LIVE, "")
        assert await published(d, "ib") == ("LIVE", "")


async def test_a_1100_before_the_loss_is_said_as_last_heard_and_tws_s_1102_moves_it() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await d.wait_live()
        port = fake.port
        await fake.connectivity_lost()
        await d.wait(lambda: link(d, "ib")[0] is L.DEGRADED, "1100")
        await fake.stop()
        await d.wait(lambda: link(d, "ib")[0] is L.DISCONNECTED, "the ib link not known")
        _, detail = link(d, "ib")
        assert detail.startswith(
            f"{UNKNOWN} (as last heard: DEGRADED, TWS lost its connection to IB (1100))"
        ), detail
        fake.faults.connectivity_lost = False
        await fake.start(port)
        await d.wait_live()
        assert link(d, "ib") == (L.LIVE, "")
        # TWS's own word on the new socket moves it as before.
        await fake.connectivity_lost()
        await d.wait(lambda: link(d, "ib")[0] is L.DEGRADED, "1100 on the new socket")
        await fake.connectivity_restored()
        await d.wait(lambda: link(d, "ib") == (L.LIVE, ""), "LIVE after 1102's catch-up")


async def test_a_catch_up_cut_short_by_the_loss_never_sets_the_ib_link_live() -> None:
    """A 1102 whose catch-up TWS has not answered when the socket breaks: the catch-up
    ends with the socket, and the `ib` link stays not known (it read LIVE once the
    catch-up's turn came back)."""
    async with FakeTws() as fake, desk(fake) as d:
        await d.wait_live()
        await fake.connectivity_lost()
        await d.wait(lambda: link(d, "ib")[0] is L.DEGRADED, "1100")
        fake.ignore_next("executions")  # the catch-up waits for TWS's executions
        await fake.connectivity_restored()
        await d.wait(lambda: "1102" in link(d, "ib")[1], "the catch-up")
        fake.reserve_client_id(1)  # the reconnect gets 326: the desk stays away
        await fake.drop_connections()
        await d.wait(lambda: link(d, "ib")[0] is L.DISCONNECTED, "the ib link not known")
        await asyncio.sleep(0.3)
        state, detail = link(d, "ib")
        assert state is L.DISCONNECTED, detail
        assert detail.startswith(
            f"{UNKNOWN} (as last heard: DEGRADED, TWS reconnected to IB (1102), data kept: "
            "reconciling)"
        ), detail
        fake.release_client_id(1)
        await d.wait_live()
        assert link(d, "ib") == (L.LIVE, "")


async def test_a_hung_tws_whose_socket_the_watchdog_dropped_leaves_the_ib_link_unknown() -> None:
    quick: dict[str, Any] = {
        "watchdog_s": 0.05,
        "answer_timeout_s": 0.2,
        "unanswered_reconnect_s": 0.6,
    }
    async with FakeTws() as fake, desk(fake, **quick) as d:
        await d.wait_live()
        fake.freeze()  # SIGSTOP: nothing answered, new connections accepted unread
        await d.wait(
            lambda: "accepts the connection" in link(d, "api")[1], "the hung reconnect", 6.0
        )
        state, detail = link(d, "ib")
        assert state is L.DISCONNECTED, detail
        assert detail.startswith(f"{UNKNOWN} (as last heard: LIVE)"), detail
        fake.thaw()
        await d.wait(lambda: d.broker.state is L.LIVE, "LIVE once TWS answers", 8.0)
        assert link(d, "ib") == (L.LIVE, "")


# -- D5: a pacing answer counted once ---------------------------------------------------


async def test_pacing_answers_to_orders_are_counted_once_each() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        fake.pace_next("place_order", code=100, times=2)
        coid = await d.broker.place(d.request())
        fake.pace_next("place_order", code=162)  # a modify is a placeOrder at TWS
        await d.broker.modify(coid, limit_price=Decimal("149.20"))
        fake.pace_next("cancel_order", code=420)
        await d.broker.cancel(coid)
        await d.broker.settle()
        errors = d.broker.health_state.errors
        assert (errors["pacing_100"], errors["pacing_162"], errors["pacing_420"]) == (2, 1, 1)
        assert not {k: v for k, v in errors.items() if v and k.startswith("tws_")}, errors
        assert sum(errors.values()) == 4, errors


async def test_a_pacing_answer_to_market_data_is_counted_once() -> None:
    async with FakeTws() as fake, desk(fake, connect=False) as d:
        fake.pace_next("market_data", code=420)
        await d.broker.connect()
        await d.wait_live()
        await d.wait(lambda: d.broker.health_state.errors["pacing_420"] == 1, "the pacing")
        await d.wait(lambda: len(fake.requests_of(m.REQ_MKT_DATA)) >= 2, "the subscribe again")
        await d.broker.settle()
        errors = d.broker.health_state.errors
        assert errors["market_data_420"] == 0, errors
        assert sum(errors.values()) == 1, errors


# -- D8: the adapter's words of a place name the order short -----------------------------


async def test_no_answer_to_a_place_names_the_order_by_its_short_id() -> None:
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        request = d.request()
        coid = request.client_order_id
        fake.ignore_next("place_order")
        with pytest.raises(BrokerTimeout) as raised:
            await d.broker.place(request)
        said = str(raised.value)
        assert said.startswith(f"no answer from TWS to order {short_id(coid)} in 0.3s"), said
        assert coid not in said


async def test_a_place_tws_kept_pacing_names_the_order_short_raised_and_journaled() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        request = d.request()
        coid = request.client_order_id
        fake.pace_next("place_order", code=100, times=4)
        with pytest.raises(RateLimited) as raised:
            await d.broker.place(request)
        said = str(raised.value)
        assert said == (
            f"TWS kept refusing order {short_id(coid)} for pacing; nothing was placed"
        ), said
        events = await d.wait_journal(lambda ev: S.REJECTED in statuses(ev, coid), "REJECTED")
        [rejected] = [u for u in updates(events, coid) if u.status is S.REJECTED]
        assert rejected.reason == said
        errors = d.broker.health_state.errors
        assert errors["pacing_100"] == 4, errors
        assert errors["tws_100"] == 0, errors


async def test_the_socket_lost_before_a_place_is_answered_names_the_order_short() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        request = d.request()
        coid = request.client_order_id
        fake.ignore_next("place_order")
        placing = asyncio.ensure_future(d.broker.place(request))
        await fake.wait_for(lambda: len(fake.requests_of(m.PLACE_ORDER)) == 1)
        await fake.drop_connections()
        with pytest.raises(BrokerTimeout) as raised:
            await placing
        said = str(raised.value)
        assert f"dropped before {short_id(coid)} was acknowledged" in said, said
        assert coid not in said
