"""The cancels of the orders the journal knows do not wait for the venue to list its
open orders: the listing runs beside them and only adds the orders the journal does
not know. Asked first, a venue slow to list (or not answering: three tries of 10 s at
Binance) held the kill switch's every cancel back behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal as D

from silvertine_tui.brokers import BrokerError
from silvertine_tui.domain import Capabilities, OrderType, Side, TradingState, VenueOrder
from silvertine_tui.engine.core import TradingEngine
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.unit.test_engine_kill import make, place, sync


class SlowLister(ScriptedVenue):
    """Lists its open orders only while `listing` is set (a venue slow to answer)."""

    listing: asyncio.Event
    lists = 0

    async def open_orders(self) -> list[VenueOrder]:
        self.lists += 1
        await self.listing.wait()
        return await super().open_orders()


class SweepingLister(SlowLister):
    """With a cancel-all of its own that lists nothing first (IB's global cancel)."""

    capabilities = Capabilities(cancel_all_native=True)

    async def cancel_all(
        self, instrument: str | None = None, reason: str = "cancel all"
    ) -> list[str]:
        ids = [cid for cid in self.venue_orders if instrument is None]
        for cid in ids:
            await self.cancel(cid, reason=reason)
        return ids


def placed_elsewhere(cid: str = "elsewhere") -> VenueOrder:
    """An order the journal does not know: placed behind the desk's back."""
    return VenueOrder(
        client_order_id=cid,
        venue_order_id="x1",
        instrument=INSTRUMENT.key,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=D("1"),
        limit_price=D("12.00"),
    )


async def until(what: Callable[[], bool], within_s: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not what():
        assert loop.time() < deadline, "never happened"
        await asyncio.sleep(0.005)


async def slow_desk(kind: type[SlowLister]) -> tuple[TradingEngine, SlowLister, list[str]]:
    _, engine, (venue,) = await make(kind)
    assert isinstance(venue, SlowLister)
    venue.listing = asyncio.Event()
    venue.listing.set()
    ids = await place(engine, "v0")
    await sync(engine)
    venue.venue_orders["elsewhere"] = placed_elsewhere()
    venue.listing.clear()  # from now on the venue is slow to list
    return engine, venue, ids


async def test_known_orders_are_cancelled_while_the_venue_is_still_listing() -> None:
    engine, venue, ids = await slow_desk(SlowLister)
    kill = asyncio.create_task(engine.kill("drill"))
    await until(lambda: not any(cid in venue.venue_orders for cid in ids))
    assert venue.lists == 1
    assert not kill.done()  # the listing has not answered yet
    assert list(venue.venue_orders) == ["elsewhere"]
    venue.listing.set()
    report = await kill
    assert report.ok, report.summary()
    assert sorted(report.cancelled) == sorted([*ids, "elsewhere"])  # the listing added it
    assert venue.venue_orders == {}
    assert engine.gate.state is TradingState.HALTED


async def test_a_sweep_goes_out_while_the_venue_is_still_listing() -> None:
    engine, venue, ids = await slow_desk(SweepingLister)
    kill = asyncio.create_task(engine.kill("drill"))
    await until(lambda: venue.venue_orders == {})  # the account-wide cancel took all
    assert venue.lists == 1
    assert not kill.done()
    venue.listing.set()
    report = await kill
    assert report.ok, report.summary()
    assert sorted(report.cancelled) == sorted([*ids, "elsewhere"])
    assert report.cancels.gone == ()


async def test_an_order_only_the_listing_names_is_cancelled_once_it_answers() -> None:
    """Nothing known to the journal: the sweep waits for the listing, which finds the
    order placed elsewhere, and takes it."""
    _, engine, (venue,) = await make(SweepingLister)
    assert isinstance(venue, SweepingLister)
    venue.listing = asyncio.Event()
    venue.venue_orders["elsewhere"] = placed_elsewhere()
    kill = asyncio.create_task(engine.kill("drill"))
    await until(lambda: venue.lists == 1)
    assert "elsewhere" in venue.venue_orders
    assert not kill.done()
    venue.listing.set()
    report = await kill
    assert report.ok, report.summary()
    assert report.cancelled == ("elsewhere",)
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
    assert list(venue.venue_orders) == ["elsewhere"]
    assert not report.ok


class FailingSweep(SweepingLister):
    """Its cancel-all fails (the venue unreachable, or refusing it)."""

    async def cancel_all(
        self, instrument: str | None = None, reason: str = "cancel all"
    ) -> list[str]:
        raise BrokerError("cancel-all: no answer from the venue")


async def test_after_a_failed_sweep_each_order_is_cancelled_without_asking_again() -> None:
    """The venue is not asked for its open orders again after its cancel-all failed
    (a hung venue held the report for that listing's every try): each order has its
    own cancel, and its answer says what became of it."""
    engine, venue, ids = await slow_desk(FailingSweep)
    venue.listing.set()
    report = await engine.kill("drill")
    assert venue.lists == 1  # the listing beside the sweep, not one after it
    assert report.ok, report.summary()
    assert sorted(report.cancelled) == sorted([*ids, "elsewhere"])
    assert venue.venue_orders == {}
