"""The cancels of the orders the journal knows do not wait for the venue to list its
open orders: the listing runs beside them and only adds the orders the journal does
not know. Asked first, a venue slow to list (or not answering: three tries of 10 s at
Binance) held the kill switch's every cancel back behind it."""

from __future__ import annotations

import asyncio

from silvertine_tui.brokers import BrokerError, BrokerTimeout, NotConnected
from silvertine_tui.domain import Capabilities, TradingState, VenueOrder
from silvertine_tui.engine.core import TradingEngine
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.support.waiting import until
from tests.unit.test_engine_kill import make, place, sync
from tests.unit.test_engine_reconnect import ghost_order


class SlowLister(ScriptedVenue):
    """Lists its open orders only while `listing` is set (a venue slow to answer)."""

    listing: asyncio.Event
    lists = 0

    async def open_orders(self) -> list[VenueOrder]:
        """The open orders as of the question, answered once `listing` is set."""
        self.lists += 1
        asked = await super().open_orders()
        await self.listing.wait()
        return asked


class SweepingLister(SlowLister):
    """With a cancel-all of its own that lists nothing first and takes every order of
    the account, but names only those it placed (IB's global cancel: not an order
    another client id placed)."""

    capabilities = Capabilities(cancel_all_native=True)

    async def cancel_all(
        self, instrument: str | None = None, reason: str = "cancel all"
    ) -> list[str]:
        taken = list(self.venue_orders)
        for cid in taken:
            await self.cancel(cid, reason=reason)
        return [cid for cid in taken if cid in self.sent]


async def slow_desk(kind: type[SlowLister]) -> tuple[TradingEngine, SlowLister, list[str]]:
    _, engine, (venue,) = await make(kind)
    assert isinstance(venue, SlowLister)
    venue.listing = asyncio.Event()
    venue.listing.set()
    ids = await place(engine, "v0")
    await sync(engine)
    venue.venue_orders["ghost"] = ghost_order()  # placed behind the desk's back
    venue.listing.clear()  # from now on the venue is slow to list
    return engine, venue, ids


async def test_known_orders_are_cancelled_while_the_venue_is_still_listing() -> None:
    engine, venue, ids = await slow_desk(SlowLister)
    kill = asyncio.create_task(engine.kill("drill"))
    await until(lambda: not any(cid in venue.venue_orders for cid in ids))
    assert venue.lists == 1
    assert not kill.done()  # the listing has not answered yet
    assert list(venue.venue_orders) == ["ghost"]
    venue.listing.set()
    report = await kill
    assert report.ok, report.summary()
    assert sorted(report.cancelled) == sorted([*ids, "ghost"])  # the listing added it
    assert venue.venue_orders == {}
    assert engine.gate.state is TradingState.HALTED


async def test_a_sweep_goes_out_while_the_venue_is_still_listing() -> None:
    """The sweep takes the order placed elsewhere too, without naming it: the venue
    is asked once more, no longer lists it, and it is gone (not cancelled on its own:
    at IB that is refused for another client id's order, and it read "still
    working")."""
    engine, venue, ids = await slow_desk(SweepingLister)
    kill = asyncio.create_task(engine.kill("drill"))
    await until(lambda: venue.venue_orders == {})  # the account-wide cancel took all
    assert venue.lists == 1
    assert not kill.done()
    venue.listing.set()
    report = await kill
    assert report.ok, report.summary()
    assert sorted(report.cancelled) == sorted(ids)
    assert report.cancels.gone == ("ghost",)
    assert venue.lists == 2  # beside the sweep, and once after it
    assert venue.sent.count("ghost") == 0


async def test_an_order_only_the_listing_names_is_cancelled_once_it_answers() -> None:
    """Nothing known to the journal: the sweep waits for the listing, which finds the
    order placed elsewhere, and takes it."""
    _, engine, (venue,) = await make(SweepingLister)
    assert isinstance(venue, SweepingLister)
    venue.listing = asyncio.Event()
    venue.venue_orders["ghost"] = ghost_order()  # placed behind the desk's back
    kill = asyncio.create_task(engine.kill("drill"))
    await until(lambda: venue.lists == 1)
    assert "ghost" in venue.venue_orders
    assert not kill.done()
    venue.listing.set()
    report = await kill
    assert report.ok, report.summary()
    assert report.cancels.gone == ("ghost",)  # taken by the sweep, not named by it
    assert venue.venue_orders == {}


async def test_a_listing_that_never_answers_leaves_the_known_cancels_done() -> None:
    """A cancel all of one instrument (order by order) against a venue whose listing
    fails: the known orders are cancelled all the same, and the report names the
    listing as the problem (orders the journal does not know may still work)."""
    engine, venue, ids = await slow_desk(SlowLister)

    async def unreachable() -> list[VenueOrder]:
        raise ConnectionError("venue unreachable")

    venue.open_orders = unreachable  # type: ignore[method-assign]
    report = await engine.cancel_all(instrument=INSTRUMENT.key)
    assert sorted(report.cancelled) == sorted(ids)
    assert [p for p in report.problems if "could not list its open orders" in p]
    assert list(venue.venue_orders) == ["ghost"]
    assert not report.ok


class FailingSweep(SweepingLister):
    """Its cancel-all fails: `failure` is what it raises."""

    failure: BrokerError = NotConnected("cancel-all: the venue is unreachable")

    async def cancel_all(
        self, instrument: str | None = None, reason: str = "cancel all"
    ) -> list[str]:
        raise self.failure


async def test_after_a_sweep_that_sent_nothing_the_venue_is_not_asked_again() -> None:
    """After a cancel-all that sent nothing (`NotConnected`) the venue is not asked
    for its open orders again (a hung venue held the report for that listing's every
    try): each order has its own cancel, and its answer says what became of it."""
    engine, venue, ids = await slow_desk(FailingSweep)
    venue.listing.set()
    report = await engine.kill("drill")
    assert venue.lists == 1  # the listing beside the sweep, not one after it
    assert report.ok, report.summary()
    assert sorted(report.cancelled) == sorted([*ids, "ghost"])
    assert venue.venue_orders == {}


async def test_after_a_sweep_that_went_out_unconfirmed_the_venue_is_asked() -> None:
    """A cancel-all that went out and was not confirmed (IB: "no confirmation yet")
    may have ended orders it does not name: the venue is asked, as after one that
    worked, and what it still lists is cancelled on its own."""
    engine, venue, ids = await slow_desk(FailingSweep)
    assert isinstance(venue, FailingSweep)
    venue.failure = BrokerTimeout("global cancel sent; no confirmation yet")
    venue.listing.set()
    report = await engine.kill("drill")
    assert venue.lists >= 2  # beside the sweep, and after it
    assert report.ok, report.summary()
    assert sorted(report.cancelled) == sorted([*ids, "ghost"])
    assert venue.venue_orders == {}
