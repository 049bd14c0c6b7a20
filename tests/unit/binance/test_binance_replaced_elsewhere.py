"""Another program on the desk's Binance account (the Binance app, a script with the
same API key) cancel-replaces one of the desk's orders while the desk runs, and gives
the new order the SAME client order id (Binance frees it on the cancel, so it may be
used again). Binance sends the old venue order's executionReport CANCELED (`c` the
cancel's own id, `C` ours) and then the replacement's NEW (`c` ours, a new `i`).

Before, the adapter took that CANCELED for the order's end and journaled it; the
replacement's NEW, after an end, was no news: the desk read CANCELED while an order
worked at Binance under its client order id (unseen by the trader and the risk gate).

Now a CANCELED the desk did not ask for is held while Binance is asked (by the client
order id) whether an order works under it: the replacement's NEW, or Binance's answer,
moves the order to the new venue order at its terms ("changed at Binance ..."); only
Binance's word that nothing replaced it ends the order. A replacement under another
client order id is another program's order: ours ends CANCELED, that one is adopted.
The desk's own modify (its cancelReplace in flight) and its own cancel are as before.

The other program is a second python-binance client against the fake (the same key),
going through Binance's real cancelReplace endpoint.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from typing import Any, NamedTuple

import pytest
from binance import AsyncClient

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.domain import Order, OrderStatus
from silvertine_tui.engine import Session
from silvertine_tui.events import EventBase
from tests.contract.test_broker_contract import fills, statuses, updates
from tests.fakes.binance import Commission, FakeBinance
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings
from tests.support.binance_stream import o1
from tests.support.waiting import until

S = OrderStatus
QUERY = ("GET", "/api/v3/order")


class Desk(NamedTuple):
    fake: FakeBinance
    session: Session
    broker: BinanceBroker
    bus: MemoryBus


@asynccontextmanager
async def desk() -> AsyncIterator[Desk]:
    """A fake Binance and a started `Session` trading it, o1 (buy 1.0 @ 1,990) working."""
    with quick_library_timings():
        bus = MemoryBus(BusOptions(prefix=f"elsewhere-{uuid.uuid4().hex[:8]}", block_ms=50))
        async with FakeBinance(
            symbols=DEFAULT_SYMBOLS,
            balances={"USDT": "100000"},
            commission=Commission(mode="quote"),
        ) as fake:
            await fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
            settings = Settings(
                bus={"url": "memory://"}, brokers=[binance_config(fake, ["ETHUSDT"])]
            )
            session = Session(settings, bus=bus)
            try:
                await session.start()
                [broker] = session.brokers
                assert isinstance(broker, BinanceBroker)
                broker.recover_pause_s = (0.05, 0.1)
                await until(lambda: session.ready, 10.0, "the desk started")
                d = Desk(fake, session, broker, bus)
                await broker.place(o1())
                await until(lambda: status(d) is S.NEW, 5.0, "o1 working on the desk")
                yield d
            finally:
                await session.close()


def order(d: Desk, coid: str = "o1") -> Order | None:
    view = d.session.engine.oms.get(coid)
    return view.order if view is not None else None


def status(d: Desk, coid: str = "o1") -> OrderStatus | None:
    found = order(d, coid)
    return found.status if found is not None else None


async def journal(d: Desk) -> list[EventBase]:
    entries = await d.bus.read(d.bus.layout.exec("binance", "spot"))
    return [e.event for e in entries if e.ok]  # type: ignore[misc]


def reasons(events: list[EventBase], coid: str = "o1") -> list[str]:
    return [u.reason for u in updates(events, coid)]


def venue_ids(d: Desk, coid: str = "o1") -> list[int]:
    """Binance's orders under `coid`, oldest first."""
    return [o.order_id for o in d.fake.orders.values() if o.client_order_id == coid]


async def replace_elsewhere(d: Desk, new_client_order_id: str = "o1", **terms: str) -> Any:
    """Another program (a second client, the same key) cancel-replaces o1."""
    params = {"quantity": "1.0", "price": "1985", **terms}
    async with binance_client(d.fake) as other:
        return await replace_with(other, new_client_order_id, params)


async def replace_with(other: AsyncClient, new_client_order_id: str, params: dict[str, str]) -> Any:
    return await other.cancel_replace_order(
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrigClientOrderId="o1",
        newClientOrderId=new_client_order_id,
        **params,
    )


def venue_of(d: Desk) -> str | None:
    """o1's venue order id on the desk."""
    o = order(d)
    return o.venue_order_id if o is not None else None


def moved_or_ended(d: Desk) -> bool:
    """o1 at 1,985 on the desk, or ended."""
    o = order(d)
    return o is not None and (o.limit_price == D("1985") or o.status.is_terminal)


async def settle(d: Desk) -> None:
    """Every user-data event the fake sent handled, and the background asks done."""
    await until(
        lambda: d.broker.user.events >= len(d.fake.sent_user_events), 5.0, "the reports read"
    )
    await asyncio.sleep(0.4)


async def test_a_replacement_under_our_client_order_id_is_followed() -> None:
    """The Binance app moves o1 to 0.8 @ 1,985 under the same client order id: the desk
    follows it to the new venue order at those terms, journaled as a change made at
    Binance, and never reads CANCELED; a fill of the replacement fills o1, and the
    desk's cancel cancels what works at Binance."""
    async with desk() as d:
        old = d.fake.order_by_client_id("o1").order_id
        await replace_elsewhere(d, quantity="0.8")
        new = venue_ids(d)[-1]
        assert new != old
        await until(lambda: moved_or_ended(d), 5.0, "o1 moved or ended")
        await settle(d)
        o = order(d)
        assert o is not None
        assert (o.status, o.quantity, o.limit_price) == (S.NEW, D("0.8"), D("1985"))
        assert o.venue_order_id == str(new)
        events = await journal(d)
        assert S.CANCELED not in statuses(events, "o1")
        assert statuses(events, "o1") == [S.PENDING_NEW, S.NEW, S.NEW]
        said = reasons(events)[-1]
        assert said.startswith("changed at Binance, not by this desk"), said
        assert "quantity 1 -> 0.8" in said, said
        assert "limit 1990 -> 1985" in said, said
        assert f"venue order {old} -> {new}" in said, said

        await d.fake.fill(new, D("0.3"))
        await until(lambda: status(d) is S.PARTIALLY_FILLED, 5.0, "the replacement's fill")
        assert [f.quantity for f in fills(await journal(d), "o1")] == [D("0.3")]
        await d.broker.cancel("o1")
        await until(lambda: status(d) is S.CANCELED, 5.0, "o1 cancelled by the desk")
        assert d.fake.orders[new].status == "CANCELED"
        assert not d.fake.exchange.open_orders("ETHUSDT")
        assert not d.session.engine.anomalies.total


async def test_the_replacements_report_lost_binance_is_asked_before_any_end() -> None:
    """Only the old venue order's CANCELED reaches the desk (the replacement's NEW is
    lost on the way): the adapter cannot tell a cancel from a cancelReplace, so it asks
    Binance by the client order id before journaling an end, finds the replacement
    working and follows it, saying it found it by asking."""
    async with desk() as d:
        old = d.fake.order_by_client_id("o1").order_id
        d.fake.reorder_next_reports(3)  # (held: both reports of the cancelReplace)
        await replace_elsewhere(d)
        new = venue_ids(d)[-1]
        assert d.fake.lose_held_reports(lambda e: e.get("x") == "NEW") == 1
        asked = d.fake.requests.count(QUERY)
        assert await d.fake.release_held_reports() == 1  # the CANCELED alone
        await until(lambda: moved_or_ended(d), 5.0, "o1 moved or ended")
        await settle(d)
        o = order(d)
        assert o is not None
        assert (o.status, o.venue_order_id) == (S.NEW, str(new))
        assert d.fake.requests.count(QUERY) > asked
        events = await journal(d)
        assert S.CANCELED not in statuses(events, "o1")
        said = reasons(events)[-1]
        assert said.startswith("changed at Binance, not by this desk"), said
        assert "Binance, asked, works it" in said, said
        assert f"{old} -> {new}" in said, said
        assert not d.session.engine.anomalies.total


async def test_the_reports_the_other_way_round_are_followed_too() -> None:
    """The replacement's NEW reaches the desk before the old venue order's CANCELED:
    the NEW moves the order, the CANCELED is of a venue order retired, no end."""
    async with desk() as d:
        d.fake.reorder_next_reports(2)
        await replace_elsewhere(d)
        new = venue_ids(d)[-1]
        await until(lambda: moved_or_ended(d), 5.0, "o1 moved or ended")
        await settle(d)
        assert (status(d), venue_of(d)) == (S.NEW, str(new))
        events = await journal(d)
        assert S.CANCELED not in statuses(events, "o1")
        assert reasons(events)[-1].startswith("changed at Binance, not by this desk")


async def test_reports_sent_twice_are_followed_once() -> None:
    """Binance sends each report of the cancelReplace twice: one change, no end."""
    async with desk() as d:
        d.fake.duplicate_next_reports(2)
        await replace_elsewhere(d)
        await until(lambda: moved_or_ended(d), 5.0, "o1 moved or ended")
        await settle(d)
        assert (status(d), venue_of(d)) == (S.NEW, str(venue_ids(d)[-1]))
        events = await journal(d)
        assert statuses(events, "o1") == [S.PENDING_NEW, S.NEW, S.NEW]
        assert not d.session.engine.anomalies.total


@pytest.mark.parametrize("delivery", ["in-order", "reversed", "its-NEW-lost"])
async def test_a_part_filled_order_replaced_elsewhere_keeps_what_filled(delivery: str) -> None:
    """o1 (1.0) has 0.4 filled when the Binance app replaces it by 0.6 @ 1,985 under
    o1 (its reports in order, the other way round, or its NEW lost and Binance asked):
    the desk's o1 is 1.0 in all, 0.4 filled, PARTIALLY_FILLED at 1,985 (what filled
    under the old venue order carried, as for the desk's own modify). Before, the
    replacement went out NEW, a step back from PARTIALLY_FILLED the journal dropped:
    the desk kept 1,990 (or, its CANCELED first, read CANCELED)."""
    async with desk() as d:
        await d.fake.fill(venue_ids(d)[-1], D("0.4"))
        await until(lambda: status(d) is S.PARTIALLY_FILLED, 5.0, "o1 part filled")
        d.fake.reorder_next_reports(2 if delivery == "reversed" else 3)
        await replace_elsewhere(d, quantity="0.6")
        if delivery == "its-NEW-lost":
            d.fake.lose_held_reports(lambda e: e.get("x") == "NEW")
        await d.fake.release_held_reports()
        await until(lambda: moved_or_ended(d), 5.0, "o1 moved or ended")
        await settle(d)
        o = order(d)
        assert o is not None
        assert (o.status, o.quantity, o.filled_qty, o.limit_price) == (
            S.PARTIALLY_FILLED,
            D("1.0"),
            D("0.4"),
            D("1985"),
        )
        said = reasons(await journal(d))[-1]
        assert "quantity" not in said, said
        assert "limit 1990 -> 1985" in said, said
        await d.fake.fill(venue_ids(d)[-1])
        await until(lambda: status(d) is S.FILLED, 5.0, "o1 filled")
        o = order(d)
        assert o is not None
        assert o.filled_qty == D("1.0")
        assert not d.session.engine.anomalies.total


async def test_a_cancel_elsewhere_ends_the_order_once_binance_says_so() -> None:
    """The Binance app cancels o1 (no replacement): asked, Binance holds it CANCELED
    and nothing works under o1, so the order ends, saying what was found."""
    async with desk() as d:
        asked = d.fake.requests.count(QUERY)
        async with binance_client(d.fake) as other:
            await other.cancel_order(symbol="ETHUSDT", origClientOrderId="o1")
        await until(lambda: status(d) is S.CANCELED, 5.0, "o1 cancelled")
        assert d.fake.requests.count(QUERY) == asked + 1
        said = reasons(await journal(d))[-1]
        assert said.startswith("cancelled at Binance, not by this desk"), said
        assert "Binance, asked, holds it CANCELED" in said, said


async def test_an_end_binance_cannot_be_asked_about_waits_for_its_answer() -> None:
    """The Binance app cancels o1 while Binance's order queries fail: the order is not
    ended on a guess (it may work under a replacement); it reads NEW, said unresolved,
    until Binance answers, then CANCELED."""
    async with desk() as d:
        d.broker.recover_tries, d.broker.recover_later_s = 2, 0.3
        d.fake.fail_next_requests(
            10_000, path="/api/v3/order", method="GET", after_processing=False
        )
        async with binance_client(d.fake) as other:
            await other.cancel_order(symbol="ETHUSDT", origClientOrderId="o1")
        errors = d.broker.health_state.errors
        await until(
            lambda: errors["cancel_elsewhere_unresolved"] > 0, 5.0, "the asks to be given up"
        )
        assert status(d) is S.NEW
        d.fake.fail_next_requests(0)
        await until(lambda: status(d) is S.CANCELED, 5.0, "o1 cancelled, once Binance answers")
        said = reasons(await journal(d))[-1]
        assert "Binance, asked, holds it CANCELED" in said, said


async def test_a_replacement_under_another_client_order_id_is_another_programs_order() -> None:
    """The Binance app replaces o1 by an order of its own id (app1): o1 ends CANCELED
    (Binance, asked, works nothing under o1) and app1 is adopted by the reconcile the
    adapter asks for, working on the desk at its terms."""
    async with desk() as d:
        await replace_elsewhere(d, new_client_order_id="app1")
        await until(lambda: status(d) is S.CANCELED, 5.0, "o1 cancelled")
        await until(lambda: status(d, "app1") is S.NEW, 5.0, "app1 adopted")
        app1 = order(d, "app1")
        assert app1 is not None
        assert (app1.quantity, app1.limit_price) == (D("1.0"), D("1985"))
        assert "Binance, asked, holds it CANCELED" in reasons(await journal(d))[-1]


async def test_the_desks_own_modify_and_cancel_ask_nothing_more() -> None:
    """The desk's own cancelReplace (its modify) and its own cancel: as before, no query
    of Binance, no change "at Binance", the CANCELED of its cancel journaled at once."""
    async with desk() as d:
        asked = d.fake.requests.count(QUERY)
        await d.broker.modify("o1", limit_price=D("1985"))
        await until(lambda: moved_or_ended(d), 5.0, "o1 moved or ended")
        await settle(d)
        await d.broker.cancel("o1")
        await until(lambda: status(d) is S.CANCELED, 5.0, "o1 cancelled")
        await settle(d)
        assert d.fake.requests.count(QUERY) == asked
        events = await journal(d)
        assert statuses(events, "o1")[2:] == [
            S.PENDING_REPLACE,
            S.NEW,
            S.PENDING_CANCEL,
            S.CANCELED,
        ]
        assert not any("at Binance, not by this desk" in r for r in reasons(events))


async def test_the_desks_own_change_of_a_part_filled_order_stays_partially_filled() -> None:
    """This desk's own price change of o1 (0.4 of 1.0 filled), a cancelReplace: the
    journal's PENDING_REPLACE is followed by PARTIALLY_FILLED at 1,985, never NEW (the
    Binance drill: the Log and `silvertine replay` read `NEW (modified) ... filled 0.01`
    while the Orders pane read PARTIALLY_FILLED)."""
    async with desk() as d:
        await d.fake.fill(venue_ids(d)[-1], D("0.4"))
        await until(lambda: status(d) is S.PARTIALLY_FILLED, 5.0, "o1 part filled")
        await d.broker.modify("o1", limit_price=D("1985"))
        await until(lambda: (o := order(d)) is not None and o.limit_price == D("1985"), 5.0, "")
        await settle(d)
        said = statuses(await journal(d), "o1")
        after = said[said.index(S.PENDING_REPLACE) + 1 :]
        assert after, said
        assert S.NEW not in after, said
        assert after[-1] is S.PARTIALLY_FILLED, said
        o = order(d)
        assert o is not None
        assert (o.status, o.filled_qty) == (S.PARTIALLY_FILLED, D("0.4"))
