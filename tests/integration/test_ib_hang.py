"""A TWS that stops answering for good, against the fake TWS with the real ib_async
client: the watchdog says how long it has not answered (growing), marks the quotes
stale, and after `unanswered_reconnect_s` drops the socket and reconnects through the
reconnect path (rebuild, reconcile, quotes asked again). A TWS frozen for less answers
again on the same socket, with no reconnect.

The chaos drill's wedge: bytes that are no frame on the socket (a length prefix of
1 MB that never comes) left ib_async's reader waiting for good; the api link read "TWS
has not answered for 5 s" for over 3 minutes, the market link LIVE with quotes 3
minutes old, and the desk never reconnected."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.domain import ConnectionState as L
from silvertine_tui.events import LogLevel, QuoteEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, fills
from tests.support.waiting import until

AAPL = "AAPL.SMART"
QUICK: dict[str, Any] = {"watchdog_s": 0.05, "answer_timeout_s": 0.2}
SAID = re.compile(r"TWS has not answered for ([0-9.]+) s")


def link(d: Desk, name: str) -> tuple[L, str]:
    status = d.broker.health_state.links[name]
    return status.state, status.detail


async def api_details(d: Desk) -> list[str]:
    """Every detail the api link was published with, in order (the health stream)."""
    said: list[str] = []
    for health in await d.health():
        detail = str(health.metrics.get("link_detail:api", ""))
        if not said or said[-1] != detail:
            said.append(detail)
    return said


def waits(details: list[str]) -> list[float]:
    """The "has not answered for N s" figures of the DEGRADED details, in order."""
    return [
        float(found.group(1))
        for detail in details
        if "hung or overloaded" in detail and (found := SAID.search(detail))
    ]


async def watch_unanswered(d: Desk, seconds: float) -> list[str]:
    """The api and market links' details while TWS does not answer, sampled often."""
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        for name in ("api", "market"):
            state, detail = link(d, name)
            entry = f"{name} {state.value}: {detail}"
            if entry not in seen:
                seen.append(entry)
        await asyncio.sleep(0.005)
    return seen


async def quotes(d: Desk) -> list[QuoteEvent]:
    return [
        e.event for e in await d.bus.read(d.bus.layout.md("ib")) if isinstance(e.event, QuoteEvent)
    ]


async def quoted(d: Desk, bid: Decimal, within_s: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not [q for q in await quotes(d) if q.payload.bid == bid]:
        assert loop.time() < deadline, f"no quote with bid {bid}"
        await asyncio.sleep(0.01)


async def test_a_wedged_reader_is_reconnected_after_the_bound() -> None:
    async with FakeTws() as fake, desk(fake, unanswered_reconnect_s=1.2, **QUICK) as d:
        broker = d.broker
        await fake.set_quote("AAPL", "150.00", "150.05")
        coid = await broker.place(d.request(limit="149.50"))
        await broker.settle()
        [order] = [o for o in fake.orders if o.working]
        assert fake.connects == 1

        fake.wedge_readers()  # ib_async's reader waits for 1 MB that never comes
        await until(lambda: link(d, "api")[0] is L.DEGRADED, 3.0, "api DEGRADED")
        assert "TWS has not answered for 0.2 s" in link(d, "api")[1]
        # A hung TWS sends no quotes: the market link does not read LIVE beside it.
        state, detail = link(d, "market")
        assert state is L.DEGRADED
        assert detail.startswith("TWS has not answered for ")
        assert "stale" in detail
        with pytest.raises(NotConnected, match="TWS has not answered"):
            await broker.place(d.request(limit="148.00"))
        await fake.fill(order.order_id)  # made while the reader is wedged: unheard
        seen = await watch_unanswered(d, 0.7)
        assert not [s for s in seen if s.startswith("market LIVE")], seen
        assert not [s for s in seen if s.startswith("api LIVE")], seen
        assert fills(await d.events(), coid) == []

        # The bound: the socket is dropped and the desk reconnects and reconciles.
        await until(lambda: fake.connects == 2, 3.0, "a reconnect")
        await until(lambda: broker.state is L.LIVE, 5.0, "LIVE again")
        details = await api_details(d)
        dropped = [s for s in details if "reconnecting;" in s or s.endswith(": reconnecting")]
        assert dropped, details
        found = SAID.match(dropped[0])
        assert found is not None, dropped
        assert 1.2 <= float(found.group(1)) < 2.0, dropped  # at the bound, not a round later
        figures = waits(details)
        assert figures[0] == 0.2
        assert figures == sorted(figures), figures  # it grows, a round at a time
        assert len(set(figures)) >= 3, figures
        assert all(f < 1.2 for f in figures), figures
        assert broker.health_state.errors["unanswered"] == 1
        assert broker.health_state.errors["unanswered_reconnect"] == 1
        assert broker.health_state.reconnects == 1
        warned = [s for s in await d.said_in_log(LogLevel.WARNING) if "reconnecting" in s]
        assert len(warned) == 1, warned
        assert "TWS has not answered for" in warned[0]
        # The fill made while wedged is reconciled from TWS's replay, once.
        events = await d.wait_journal(lambda e: len(fills(e, coid)) == 1, "the fill")
        assert fills(events, coid)[0].quantity == Decimal("3")
        # Quotes are asked again on the new socket and flow.
        assert link(d, "market")[0] is L.LIVE
        await fake.set_quote("AAPL", "151.00", "151.05")
        await quoted(d, Decimal("151.00"))
        assert await broker.place(d.request(limit="148.00"))


async def test_a_tws_frozen_for_less_than_the_bound_answers_on_the_same_socket() -> None:
    """TWS stopped (SIGSTOP), then back before `unanswered_reconnect_s`: the questions
    it left waiting are answered, the links are LIVE again, no reconnect."""
    async with FakeTws() as fake, desk(fake, **QUICK) as d:  # the bound: 60 s
        broker = d.broker
        await fake.set_quote("AAPL", "150.00", "150.05")
        await broker.settle()
        fake.freeze()
        await until(lambda: link(d, "api")[0] is L.DEGRADED, 3.0, "api DEGRADED")
        assert link(d, "market")[0] is L.DEGRADED
        seen = await watch_unanswered(d, 0.9)
        assert not [s for s in seen if " LIVE" in s.split(":")[0]], seen
        assert "reconnecting at 60 s without an answer" in link(d, "api")[1]
        fake.thaw()
        await until(lambda: link(d, "api")[0] is L.LIVE, 3.0, "api LIVE again")
        assert link(d, "api")[1].endswith("answers again")
        await until(lambda: link(d, "market")[0] is L.LIVE, 1.0, "market LIVE again")
        assert broker.state is L.LIVE
        figures = waits(await api_details(d))
        assert figures[0] == 0.2
        assert figures[-1] >= 0.8, figures  # it grew while frozen
        assert figures == sorted(figures), figures
        assert fake.connects == 1
        assert broker.health_state.reconnects == 0
        assert broker.health_state.errors["unanswered_reconnect"] == 0
        assert broker.health_state.errors["disconnect"] == 0
        assert await broker.place(d.request(limit="148.00"))


async def test_no_bound_keeps_the_socket() -> None:
    """`unanswered_reconnect_s: 0`: DEGRADED for as long as TWS does not answer,
    never dropped."""
    async with FakeTws() as fake, desk(fake, unanswered_reconnect_s=0, **QUICK) as d:
        await d.broker.settle()
        fake.wedge_readers()
        await until(lambda: link(d, "api")[0] is L.DEGRADED, 3.0, "api DEGRADED")
        await asyncio.sleep(1.0)
        assert link(d, "api")[0] is L.DEGRADED
        assert "reconnecting" not in link(d, "api")[1]
        assert fake.connects == 1
        assert d.broker.health_state.errors["unanswered_reconnect"] == 0
        assert max(waits(await api_details(d))) >= 0.8  # said growing all the same
