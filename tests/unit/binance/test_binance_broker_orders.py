"""BinanceBroker's orders against the fake Binance (the real python-binance client runs):
what reaches the venue, and what the journal shows the trader, each thing once."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.brokers import (
    BrokerError,
    BrokerTimeout,
    CancelTooLate,
    InsufficientFunds,
    OrderRejected,
    UnknownOrder,
)
from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.brokers.binance.errors import CancelReplaceFailed, FilterFailure
from silvertine_tui.brokers.registry import BrokerRegistry
from silvertine_tui.bus import BusError
from silvertine_tui.domain import (
    ApplyResult,
    MarketDataKind,
    ModifyStyle,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderValidationError,
    Side,
    TimeInForce,
)
from silvertine_tui.events import (
    BalanceEvent,
    CancelRequestEvent,
    EventBase,
    FillEvent,
    OrderUpdateEvent,
    PositionEvent,
)
from tests.contract.test_broker_contract import fills, replay_orders, statuses, updates
from tests.fakes.binance import Commission, SymbolSpec
from tests.support.binance_broker import Session, binance_session

S = OrderStatus
KEY = "ETHUSDT.BINANCE"
D = Decimal


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        yield session


def req(s: Session, side: Side = Side.BUY, qty: str = "0.5", **fields: Any) -> OrderRequest:
    fields.setdefault("order_type", OrderType.LIMIT)
    if fields["order_type"] is not OrderType.MARKET:
        fields.setdefault("limit_price", D("1990"))
    return OrderRequest(
        broker=s.broker.name,
        account=s.broker.account,
        instrument=KEY,
        side=side,
        quantity=D(qty),
        **fields,
    )


async def wait_for(
    s: Session, check: Callable[[list[EventBase]], bool], what: str
) -> list[EventBase]:
    deadline = time.monotonic() + 4
    while True:
        events = await s.events()
        if check(events):
            return events
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}: {[e.type for e in events[-10:]]}")
        await asyncio.sleep(0.01)


def ended(coid: str, status: OrderStatus) -> Callable[[list[EventBase]], bool]:
    return lambda events: status in statuses(events, coid)


async def settled(s: Session) -> list[EventBase]:
    await s.driver.settle()
    await asyncio.sleep(0.05)
    await s.driver.settle()
    return await s.events()


async def sendable(s: Session, *, cancel: bool = False) -> None:
    """The REST link back after a cut connection (the next call or ping finds it)."""
    deadline = time.monotonic() + 5
    while not s.broker.sendable(cancel=cancel):
        assert time.monotonic() < deadline, "REST never came back"
        await asyncio.sleep(0.01)


def once_each(events: list[EventBase], coid: str) -> None:
    """Every fill once; no status published twice in a row, but for a stop's trigger
    (the same status that says it has triggered); no overfill. (The state machine may
    call a FILLED update a duplicate: the last fill already moved it.)"""
    ids = Counter(f.exec_id for f in fills(events, coid))
    assert all(n == 1 for n in ids.values()), ids
    seen = updates(events, coid)
    assert all(
        a.status != b.status or a.status is S.PARTIALLY_FILLED or (b.triggered and not a.triggered)
        for a, b in itertools.pairwise(seen)
    ), statuses(events, coid)
    _, results = replay_orders(events)
    assert results[ApplyResult.OVERFILL] == 0


# -- instruments ----------------------------------------------------------------------


async def test_instruments_on_demand_and_cached(s: Session) -> None:
    before = len([r for r in s.fake.requests if r[1].endswith("exchangeInfo")])
    eth = await s.broker.instrument(KEY)
    again = await s.broker.instrument(KEY)
    assert eth is again
    asked = len([r for r in s.fake.requests if r[1].endswith("exchangeInfo")])
    assert asked == before, "the configured symbol was cached at connect"
    assert (eth.tick_size, eth.lot_size, eth.min_notional) == (D("0.01"), D("0.00001"), D(5))
    with pytest.raises(OrderRejected, match="not traded"):
        await s.broker.instrument("NOPEUSDT.BINANCE")
    assert list(await s.broker.instruments()) == [KEY]


async def test_market_closed_forgets_the_instrument(s: Session) -> None:
    await s.broker.instrument(KEY)
    spec = s.fake.exchange.specs["ETHUSDT"]
    s.fake.exchange.specs["ETHUSDT"] = dataclasses.replace(spec, status="BREAK")
    with pytest.raises(OrderRejected, match="Market is closed"):
        await s.broker.place(req(s))
    # Looked up again: now the trader is told before anything is sent.
    instrument = await s.broker.instrument(KEY)
    assert (instrument.trading, instrument.status) == (False, "BREAK")
    journaled = len(await s.events())
    with pytest.raises(OrderValidationError, match="not trading now"):
        await s.broker.place(req(s))
    assert len(await s.events()) == journaled


# -- placing ---------------------------------------------------------------------------


async def test_limit_rests_under_our_client_order_id(s: Session) -> None:
    coid = await s.broker.place(req(s))
    events = await wait_for(s, ended(coid, S.NEW), "NEW")
    order = s.fake.order_by_client_id(coid)
    assert (order.type, order.time_in_force, order.price, order.orig_qty) == (
        "LIMIT",
        "GTC",
        D("1990"),
        D("0.5"),
    )
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW]
    assert updates(events, coid)[1].venue_order_id == str(order.order_id)
    assert s.broker.knows_order(coid)


async def test_ioc_takes_what_the_book_has_and_expires(s: Session) -> None:
    await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "2")])
    coid = await s.broker.place(req(s, qty="3", limit_price=D("2001"), tif=TimeInForce.IOC))
    events = await wait_for(s, ended(coid, S.EXPIRED), "EXPIRED")
    events = await settled(s)
    [fill] = fills(events, coid)
    assert (fill.quantity, fill.price, fill.liquidity) == (D(2), D(2001), "TAKER")
    assert statuses(events, coid)[-1] is S.EXPIRED
    assert updates(events, coid)[-1].filled_qty == D(2)
    once_each(events, coid)


async def test_fok_that_cannot_fill_expires_whole(s: Session) -> None:
    await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "2")])
    coid = await s.broker.place(req(s, qty="3", limit_price=D("2001"), tif=TimeInForce.FOK))
    await wait_for(s, ended(coid, S.EXPIRED), "EXPIRED")
    events = await settled(s)
    assert fills(events, coid) == []
    assert statuses(events, coid) == [S.PENDING_NEW, S.EXPIRED]


async def test_post_only_is_limit_maker(s: Session) -> None:
    coid = await s.broker.place(req(s, post_only=True))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    assert s.fake.order_by_client_id(coid).type == "LIMIT_MAKER"
    with pytest.raises(OrderRejected, match="immediately match"):
        await s.broker.place(req(s, post_only=True, limit_price=D("2001")))


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
async def test_post_only_that_never_rests_is_refused_before_sending(
    s: Session, tif: TimeInForce
) -> None:
    """A post-only IOC went out as a LIMIT_MAKER (it takes no time in force), working
    at Binance until cancelled: an order the trader meant never to rest."""
    with pytest.raises(OrderValidationError, match=f"post-only rests on the book: not with {tif}"):
        await s.broker.place(req(s, post_only=True, tif=tif))
    assert s.fake.exchange.orders == {}
    events = await settled(s)
    assert [e for e in events if isinstance(e, OrderUpdateEvent)] == []


async def test_market_walks_the_book_with_the_fee_valued(s: Session) -> None:
    s.fake.exchange.commission = Commission(mode="received")  # a buy pays in ETH
    await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "0.2"), ("2002", "5")])
    coid = await s.broker.place(req(s, qty="0.5", order_type=OrderType.MARKET, tif=TimeInForce.IOC))
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    done = fills(events, coid)
    assert [(f.quantity, f.price) for f in done] == [(D("0.2"), D(2001)), (D("0.3"), D(2002))]
    for fill in done:
        assert fill.fee_currency == "ETH"
        assert fill.fee_value == fill.fee * fill.price
    assert "timeInForce" not in str(s.fake.order_by_client_id(coid))  # MARKET carries none
    assert s.fake.order_by_client_id(coid).type == "MARKET"
    once_each(events, coid)


async def test_a_bnb_fee_is_valued_at_a_recent_bnb_price() -> None:
    symbols = (SymbolSpec("ETHUSDT", "ETH", "USDT"), SymbolSpec("BNBUSDT", "BNB", "USDT"))
    async with binance_session(
        symbols=symbols,
        balances={"USDT": "10000", "BNB": "5"},
        commission=Commission(mode="bnb", bnb_price=D("600")),
    ) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        await s.fake.set_book("BNBUSDT", [("599", "5")], [("601", "5")])
        coid = await s.broker.place(req(s, limit_price=D("2001")))
        await wait_for(s, ended(coid, S.FILLED), "FILLED")
        [fill] = fills(await settled(s), coid)
        assert fill.fee_currency == "BNB"
        assert fill.fee_value == fill.fee * D(600)  # the BNBUSDT mid


async def test_a_burst_of_fills_shares_one_wait_for_a_hung_rest() -> None:
    """Each BNB-fee fill of a burst waited its own 0.5 s for the price REST did not give:
    six fills held the user stream 3 s."""
    symbols = (SymbolSpec("ETHUSDT", "ETH", "USDT"), SymbolSpec("BNBUSDT", "BNB", "USDT"))
    async with binance_session(
        symbols=symbols,
        balances={"USDT": "10000", "BNB": "5"},
        commission=Commission(mode="bnb", bnb_price=D("600")),
        quoted=["ETHUSDT"],
    ) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        await s.fake.set_book("BNBUSDT", [("599", "5")], [("601", "5")])
        coid = await s.broker.place(req(s, qty="0.6"))
        await wait_for(s, ended(coid, S.NEW), "NEW")
        s.fake.stop_answering_rest(hang=True)
        order_id = s.fake.order_by_client_id(coid).order_id
        started = time.monotonic()
        for _ in range(6):
            await s.fake.fill(order_id, "0.1")
        await wait_for(s, ended(coid, S.FILLED), "FILLED")
        took = time.monotonic() - started
        s.fake.answer_rest()
        assert took < 0.9, f"the burst waited {took:.2f} s for REST"
        assert len(fills(await s.events(), coid)) == 6


async def test_a_bnb_fee_without_a_price_is_not_guessed() -> None:
    async with binance_session(
        balances={"USDT": "10000", "BNB": "5"}, commission=Commission(mode="bnb")
    ) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        coid = await s.broker.place(req(s, limit_price=D("2001")))
        await wait_for(s, ended(coid, S.FILLED), "FILLED")
        [fill] = fills(await settled(s), coid)
        assert (fill.fee_currency, fill.fee_value) == ("BNB", None)


async def test_a_fee_valuation_never_holds_the_fills_behind_a_hung_rest() -> None:
    """A BNB fee is valued at BNBUSDT's mid, asked of REST: that call ran inside the user
    stream's reader, so with REST hung every fill and status behind it waited out the
    call's timeout and retries (3 s here, at a 1 s timeout). Now a fill waits at most
    half a second; its fee is left unvalued when no price is known, and valued again
    once REST answers."""
    symbols = (SymbolSpec("ETHUSDT", "ETH", "USDT"), SymbolSpec("BNBUSDT", "BNB", "USDT"))
    async with binance_session(
        symbols=symbols,
        balances={"USDT": "10000", "BNB": "5"},
        commission=Commission(mode="bnb", bnb_price=D("600")),
        quoted=["ETHUSDT"],  # no BNBUSDT quote here: its price is asked of REST
    ) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        await s.fake.set_book("BNBUSDT", [("599", "5")], [("601", "5")])
        first = await s.broker.place(req(s))
        second = await s.broker.place(req(s))
        await wait_for(s, ended(second, S.NEW), "NEW")
        s.fake.stop_answering_rest(hang=True)
        started = time.monotonic()
        await s.fake.fill(s.fake.order_by_client_id(first).order_id)
        await wait_for(s, ended(first, S.FILLED), "FILLED")
        took = time.monotonic() - started
        assert took < 0.9, f"the fill waited {took:.2f} s for REST"
        [fill] = fills(await s.events(), first)
        assert (fill.fee_currency, fill.fee_value) == ("BNB", None)
        s.fake.answer_rest()
        # The price asked while REST hung is asked again (its retry) and answered.
        await until(lambda: not s.broker._price_asks, "the price answered")
        await s.fake.fill(s.fake.order_by_client_id(second).order_id)
        await wait_for(s, ended(second, S.FILLED), "FILLED")
        [fill] = fills(await settled(s), second)
        assert fill.fee_value == fill.fee * D(600)


async def test_stop_limit_is_stop_loss_limit_and_triggers_on_a_trade(s: Session) -> None:
    coid = await s.broker.place(
        req(
            s,
            side=Side.SELL,
            qty="0.5",
            order_type=OrderType.STOP_LIMIT,
            stop_price=D("1995"),
            limit_price=D("1990"),
        )
    )
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order = s.fake.order_by_client_id(coid)
    assert (order.type, order.stop_price, order.price) == ("STOP_LOSS_LIMIT", D(1995), D(1990))
    await s.fake.trade("ETHUSDT", "1995", "0.1")  # reaches the stop: it works, takes the bid
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    assert sum(f.quantity for f in fills(events, coid)) == D("0.5")
    once_each(events, coid)


async def test_partial_fills_accumulate(s: Session) -> None:
    coid = await s.broker.place(req(s, qty="0.5"))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order_id = s.fake.order_by_client_id(coid).order_id
    await s.fake.fill(order_id, "0.2")
    await s.fake.fill(order_id, "0.1", "1989")
    await wait_for(
        s,
        lambda ev: any(u.filled_qty == D("0.3") for u in updates(ev, coid)),
        "two partial fills",
    )
    await s.fake.fill(order_id)
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    assert statuses(events, coid) == [
        S.PENDING_NEW,
        S.NEW,
        S.PARTIALLY_FILLED,
        S.PARTIALLY_FILLED,
        S.FILLED,
    ]
    final = updates(events, coid)[-1]
    assert final.filled_qty == D("0.5")
    assert final.avg_price == (D("0.2") * 1990 + D("0.1") * 1989 + D("0.2") * 1990) / D("0.5")
    once_each(events, coid)


async def test_insufficient_funds_and_a_filter_failure_are_rejections(s: Session) -> None:
    with pytest.raises(InsufficientFunds):
        await s.broker.place(req(s, qty="100"))
    s.fake.fail_next_order_filter("PERCENT_PRICE_BY_SIDE")
    with pytest.raises(FilterFailure, match="PERCENT_PRICE_BY_SIDE"):
        await s.broker.place(req(s))
    events = await settled(s)
    rejected = [u for e in events if isinstance(e, OrderUpdateEvent) for u in [e.payload]]
    assert [u.status for u in rejected].count(S.REJECTED) == 2
    assert s.fake.exchange.open_orders() == []


async def test_a_price_far_outside_the_band_is_refused_before_sending(s: Session) -> None:
    """The fake's band is 0.2x-5x (PERCENT_PRICE_BY_SIDE, read from exchangeInfo): a buy
    at ten times the market is refused here, naming the field and the rule, and the
    venue and the journal see nothing of it."""
    before = await s.events()
    with pytest.raises(OrderValidationError) as refused:
        await s.broker.place(req(s, limit_price=D("20000")), market_price=D("2000"))
    assert [(i.field, i.rule) for i in refused.value.issues] == [("limit_price", "price_band")]
    assert "around 2,000" in str(refused.value)
    assert s.fake.exchange.open_orders() == []
    assert await s.events() == before
    coid = await s.broker.place(req(s, limit_price=D("1990")), market_price=D("2000"))
    await wait_for(s, ended(coid, S.NEW), "the order inside the band to rest")


# -- cancel ----------------------------------------------------------------------------


async def test_cancel_and_cancels_that_cannot_be(s: Session) -> None:
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await s.broker.cancel(coid)
    await wait_for(s, ended(coid, S.CANCELED), "CANCELED")
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]
    journaled = len(events)
    with pytest.raises(UnknownOrder, match="already CANCELED"):
        await s.broker.cancel(coid)
    with pytest.raises(UnknownOrder, match="nothing was sent"):
        await s.broker.cancel("never-placed")
    assert len(await s.events()) == journaled, "a refused cancel was journaled"


async def test_a_cancel_that_races_a_fill_ends_filled(s: Session) -> None:
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.race_next_cancel()
    with pytest.raises(CancelTooLate, match=r"already FILLED at Binance \(0\.5 filled; the fill"):
        await s.broker.cancel(coid)
    events = await settled(s)
    assert statuses(events, coid)[-1] is S.FILLED
    assert S.CANCELED not in statuses(events, coid)
    [fill] = fills(events, coid)
    assert fill.quantity == D("0.5")
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty) == (S.FILLED, D("0.5"))
    once_each(events, coid)


async def test_a_cancel_after_the_adapter_saw_the_fill_came_too_late(s: Session) -> None:
    """The fill reached the adapter before the desk had it: the cancel the trader sent
    meanwhile is not sent, and says it came too late (not a plain unknown order)."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    with pytest.raises(CancelTooLate) as late:
        await s.broker.cancel(coid)
    assert "already FILLED at Binance (0.5 filled; the fill stands)" in str(late.value)
    assert "(nothing was sent)" in str(late.value)
    assert ("DELETE", "/api/v3/order") not in s.fake.requests


async def test_a_cancel_binance_could_not_take_puts_the_order_back_to_working(
    s: Session,
) -> None:
    """Binance answers every try of the cancel -1001 (overloaded): the cancel fails,
    and the order Binance still holds working is shown working again, not as a cancel
    on its way; a later cancel goes through."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.fail_next_cancels(100)
    with pytest.raises(BrokerError) as failed:
        await s.broker.cancel(coid)
    assert not isinstance(failed.value, UnknownOrder)
    assert "unavailable" in str(failed.value)
    updates_of = updates(await settled(s), coid)
    assert [u.status for u in updates_of] == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.NEW]
    assert updates_of[-1].reason.startswith("cancel failed: ")
    assert s.fake.order_by_client_id(coid).status == "NEW"
    s.fake.fail_next_cancels(0)
    await s.broker.cancel(coid)
    assert statuses(await settled(s), coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]


async def test_a_cancel_whose_answers_failed_but_went_through_is_done(s: Session) -> None:
    """The cancel took at Binance but its answer was an error (an internal error after
    processing): Binance reports the order CANCELED, and the cancel is done."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.fail_next_cancels(100, after_processing=True)
    await s.broker.cancel(coid)  # no error: it is cancelled
    assert s.fake.order_by_client_id(coid).status == "CANCELED"
    said = statuses(await settled(s), coid)
    assert said[-2:] == [S.PENDING_CANCEL, S.CANCELED], said
    assert said.count(S.CANCELED) == 1


async def test_a_refused_cancel_of_a_working_order_says_it_still_works(s: Session) -> None:
    """Binance answers the cancel -2011 yet holds the order open: the error says it is
    still working and to cancel it again, never that it ended or came too late."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.refuse_next_cancel()
    with pytest.raises(UnknownOrder) as refused:
        await s.broker.cancel(coid)
    assert not isinstance(refused.value, CancelTooLate)
    said = str(refused.value)
    assert "yet Binance reports the order NEW: it is still working; cancel it again" in said
    assert "too late" not in said
    # The journal holds it working again, as Binance does.
    assert statuses(await settled(s), coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.NEW]
    await s.broker.cancel(coid)  # again: taken
    events = await settled(s)
    assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]


async def test_cancel_all_is_one_call_per_symbol(s: Session) -> None:
    ids = [await s.broker.place(req(s, limit_price=D(1980 + i))) for i in range(3)]
    for coid in ids:
        await wait_for(s, ended(coid, S.NEW), "NEW")
    cancelled = await s.broker.cancel_all(KEY)
    assert sorted(cancelled) == sorted(ids)
    assert s.fake.requests.count(("DELETE", "/api/v3/openOrders")) == 1
    assert ("DELETE", "/api/v3/order") not in s.fake.requests
    events = await settled(s)
    for coid in ids:
        assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]
    assert len([e for e in events if isinstance(e, CancelRequestEvent)]) == 3
    assert await s.broker.cancel_all() == []


async def test_cancel_all_sweeps_the_followed_symbols_before_the_listing_answers(
    s: Session,
) -> None:
    """The kill switch's sweep: the orders this adapter follows are cancelled without
    waiting for the venue's list of open orders (here 0.8 s slow, within the test's
    1 s REST timeout); the listing only
    adds the orders it does not follow. Listed first, every DELETE waited for it."""
    ids = [await s.broker.place(req(s, limit_price=D(1980 + i))) for i in range(2)]
    for coid in ids:
        await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.slow_replies("GET", "/api/v3/openOrders", 0.8)
    started = time.monotonic()
    sweep = asyncio.create_task(s.broker.cancel_all(reason="kill switch"))
    while any(s.fake.order_by_client_id(c).status != "CANCELED" for c in ids):
        assert time.monotonic() - started < 0.5, "the DELETE waited for the listing"
        await asyncio.sleep(0.02)
    cancelled = await sweep
    assert time.monotonic() - started >= 0.8  # the listing was still waited for
    assert sorted(cancelled) == sorted(ids)
    assert s.fake.requests.count(("DELETE", "/api/v3/openOrders")) == 1
    events = await settled(s)
    for coid in ids:
        assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]
    assert len([e for e in events if isinstance(e, CancelRequestEvent)]) == 2


async def test_a_cancel_all_whose_listing_fails_still_cancels_the_followed_orders(
    s: Session,
) -> None:
    """The listing never answers (beyond the REST timeout): the followed orders are
    cancelled all the same, and the error says what may still be working."""
    ids = [await s.broker.place(req(s, limit_price=D(1980 + i))) for i in range(2)]
    for coid in ids:
        await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.slow_replies("GET", "/api/v3/openOrders", 5.0)
    with pytest.raises(BrokerError) as failed:
        await s.broker.cancel_all(reason="kill switch")
    said = str(failed.value)
    assert "cancelled 2, orders this desk does not follow may still be working" in said
    assert "could not list the open orders" in said
    assert all(s.fake.order_by_client_id(c).status == "CANCELED" for c in ids)
    s.fake.slow_replies("GET", "/api/v3/openOrders", None)
    events = await settled(s)
    for coid in ids:
        assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]


async def test_cancel_all_sweeps_a_symbol_only_the_listing_names() -> None:
    """An order placed elsewhere (another client on the account) in a symbol this
    adapter follows no order in: the listing names it, its cancel is journaled, then
    its symbol is swept too."""
    symbols = (SymbolSpec("ETHUSDT", "ETH", "USDT"), SymbolSpec("BTCUSDT", "BTC", "USDT"))
    async with binance_session(symbols=symbols) as s:
        mine = await s.broker.place(req(s, limit_price=D(1980)))
        await wait_for(s, ended(mine, S.NEW), "NEW")
        s.fake.exchange.place(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.001",
                "price": "60000",
                "newClientOrderId": "elsewhere-1",
            }
        )
        cancelled = await s.broker.cancel_all()
        assert sorted(cancelled) == sorted([mine, "elsewhere-1"])
        assert s.fake.order_by_client_id("elsewhere-1").status == "CANCELED"
        deletes = [r for r in s.fake.requests if r == ("DELETE", "/api/v3/openOrders")]
        assert len(deletes) == 2  # ETHUSDT at once, BTCUSDT once listed
        events = await settled(s)
        assert statuses(events, "elsewhere-1")[-2:] == [S.PENDING_CANCEL, S.CANCELED]


# -- modify (cancel-replace) ------------------------------------------------------------


async def test_modify_keeps_our_id_and_takes_a_new_venue_id(s: Session) -> None:
    coid = await s.broker.place(req(s))
    events = await wait_for(s, ended(coid, S.NEW), "NEW")
    old_id = updates(events, coid)[-1].venue_order_id
    await s.broker.modify(coid, quantity=D("0.7"), limit_price=D("1985"))
    events = await wait_for(s, lambda ev: len(statuses(ev, coid)) >= 4, "the replace")
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_REPLACE, S.NEW]
    answer = updates(events, coid)[-1]
    assert answer.venue_order_id != old_id
    assert (answer.quantity, answer.limit_price) == (D("0.7"), D(1985))
    venue = [o for o in s.fake.orders.values() if o.client_order_id == coid]
    assert [(o.status, o.price) for o in venue] == [("CANCELED", D(1990)), ("NEW", D(1985))]
    orders, _ = replay_orders(events)
    assert orders[coid].venue_order_id == answer.venue_order_id
    assert orders[coid].status is S.NEW
    [open_order] = await s.broker.open_orders()
    assert (open_order.client_order_id, open_order.quantity) == (coid, D("0.7"))


async def test_a_modify_binance_refuses_puts_the_order_back_with_the_reason(s: Session) -> None:
    """A cancelReplace refused before anything happened (here a 429): the query found
    the order still NEW on its id, a report `is_news` drops as a repeat, and the
    status was put back only when the query failed: the order read PENDING_REPLACE for
    ever, the refusal nowhere on it."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.throttle(requests=1, retry_after=0.1, ban=0.1)
    with pytest.raises(BrokerError):
        await s.broker.modify(coid, limit_price=D("1985"))
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_REPLACE, S.NEW]
    answer = updates(events, coid)[-1]
    assert answer.reason.startswith("modify failed"), answer
    venue = [o for o in s.fake.orders.values() if o.client_order_id == coid]
    assert [(o.status, o.price) for o in venue] == [("NEW", D(1990))]


@pytest.mark.parametrize("fault", ["connection cut", "503 -1007"])
async def test_a_modify_binance_made_whose_answer_was_lost_shows_the_new_order(
    s: Session, fault: str
) -> None:
    """Binance replaced the order, then the answer was lost. Taken for "nothing
    happened", the old venue order's CANCELED report read as the order's end (or the
    journal kept the old price) while Binance worked the new one, and a cancel said
    "already CANCELED; nothing was sent"."""
    coid = await s.broker.place(req(s))
    events = await wait_for(s, ended(coid, S.NEW), "NEW")
    old_id = updates(events, coid)[-1].venue_order_id
    if fault == "connection cut":
        s.fake.reset_next_requests(1, after_processing=True)
    else:
        s.fake.fail_next_requests(1, status=503, after_processing=True)
    with pytest.raises(BrokerTimeout, match="do not send it again"):
        await s.broker.modify(coid, limit_price=D("1985"))
    events = await wait_for(s, lambda ev: statuses(ev, coid)[-1] is S.NEW, "the answer")
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_REPLACE, S.NEW]
    answer = updates(events, coid)[-1]
    assert answer.venue_order_id != old_id
    assert (answer.quantity, answer.limit_price) == (D("0.5"), D(1985))
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].limit_price) == (S.NEW, D(1985))
    await s.broker.cancel(coid)
    venue = [o for o in s.fake.orders.values() if o.client_order_id == coid]
    assert [(o.status, o.price) for o in venue] == [("CANCELED", D(1990)), ("CANCELED", D(1985))]
    events = await settled(s)
    assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]
    once_each(events, coid)


async def test_a_modify_whose_answer_was_lost_unmade_waits_out_binances_window(
    s: Session,
) -> None:
    """The connection broke before Binance acted: until the request's receive window has
    passed Binance may still act on it, so the order stays PENDING_REPLACE (a second
    change is refused, nothing sent), then goes back to working at its terms."""
    s.broker.unknown_order_window_s = 1.0
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.reset_next_requests(1, after_processing=False)
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, limit_price=D("1985"))
    events = await settled(s)
    assert statuses(events, coid)[-1] is S.PENDING_REPLACE
    with pytest.raises(BrokerError, match="being asked what became of it; nothing was sent"):
        await s.broker.modify(coid, limit_price=D("1980"))
    events = await wait_for(s, lambda ev: statuses(ev, coid)[-1] is S.NEW, "the answer")
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_REPLACE, S.NEW]
    answer = updates(events, coid)[-1]
    assert "did not take it: the order works unchanged" in answer.reason, answer
    venue = [o for o in s.fake.orders.values() if o.client_order_id == coid]
    assert [(o.status, o.price) for o in venue] == [("NEW", D(1990))]
    await s.broker.modify(coid, limit_price=D("1980"))
    venue = [o for o in s.fake.orders.values() if o.client_order_id == coid]
    assert [(o.status, o.price) for o in venue] == [("CANCELED", D(1990)), ("NEW", D(1980))]


async def test_a_modify_half_made_whose_answer_was_lost_ends_cancelled(s: Session) -> None:
    """Binance cancelled the old order, refused the new one, and the answer (-2021, the
    one that said so) was lost: the order ends CANCELED, saying why."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.reject_next_order()
    s.fake.reset_next_requests(1, after_processing=True)
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, limit_price=D("1985"))
    events = await wait_for(s, ended(coid, S.CANCELED), "CANCELED")
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_REPLACE, S.CANCELED]
    assert "placed no new one" in updates(events, coid)[-1].reason


async def test_two_changes_at_once_each_show_on_their_way(s: Session) -> None:
    """The second change's PENDING_REPLACE was judged a repeat while the first's NEW
    waited for its account event: the journal went NEW at the first change's terms
    while the second was on its way, then NEW at the second's."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await asyncio.gather(
        s.broker.modify(coid, limit_price=D("1985")), s.broker.modify(coid, limit_price=D("1980"))
    )
    events = await settled(s)
    assert [(u.status, u.limit_price) for u in updates(events, coid)[2:]] == [
        (S.PENDING_REPLACE, None),
        (S.NEW, D(1985)),
        (S.PENDING_REPLACE, None),
        (S.NEW, D(1980)),
    ]
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].limit_price) == (S.NEW, D(1980))


async def test_two_changes_each_show_when_the_second_is_answered_first(s: Session) -> None:
    """The first change's NEW waits for its account event (late); the second change is
    answered meanwhile: both NEWs went at once, the second's PENDING_REPLACE (a repeat
    while the first's NEW waited) never journaled. It goes between them now."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    s.fake.lose_next_account_event()  # the first replacement's
    await s.broker.modify(coid, limit_price=D("1985"))
    await s.broker.modify(coid, limit_price=D("1980"))
    await settled(s)
    await asyncio.sleep(0.3)  # past any status's wait
    events = await s.events()
    assert [(u.status, u.limit_price) for u in updates(events, coid)[2:]] == [
        (S.PENDING_REPLACE, None),
        (S.NEW, D(1985)),
        (S.PENDING_REPLACE, None),
        (S.NEW, D(1980)),
    ]


async def test_a_lost_modify_the_stream_settled_can_be_changed_again(s: Session) -> None:
    """The stream's report settled a lost modify (NEW at the new price): a next change
    was refused "being asked what became of it" while the check's slow query lasted."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    s.fake.slow_replies("GET", "/api/v3/order", 0.9)  # the check's query: slow
    s.fake.reset_next_requests(1, after_processing=True)
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, limit_price=D("1985"))
    await wait_for(s, lambda ev: updates(ev, coid)[-1].limit_price == D(1985), "NEW at 1985")
    assert coid in s.broker._replace_checks  # still asking
    await sendable(s)
    await s.broker.modify(coid, limit_price=D("1980"))
    s.fake.slow_replies("GET", "/api/v3/order", None)
    venue = [o for o in s.fake.orders.values() if o.client_order_id == coid]
    assert [(o.status, o.price) for o in venue][-1] == ("NEW", D(1980))


@pytest.mark.parametrize("how", ["cancel", "cancel_all"])
async def test_a_cancel_while_a_lost_modify_is_checked_counts_each_fill_once(
    s: Session, how: str
) -> None:
    """Binance never acted on the lost modify; the order (0.2 filled of 0.5) is
    cancelled meanwhile: its CANCELED said filled 0.4, the old venue order's fills
    counted once as its own and once more as a retired order's."""
    s.broker.unknown_order_window_s = 1.0
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id, "0.2")
    await wait_for(s, ended(coid, S.PARTIALLY_FILLED), "a partial fill")
    await settled(s)
    s.fake.reset_next_requests(1, after_processing=False)
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, limit_price=D("1985"))
    assert coid in s.broker._replace_checks
    await sendable(s, cancel=True)
    if how == "cancel":
        await s.broker.cancel(coid)
    else:
        await s.broker.cancel_all()
    await wait_for(s, ended(coid, S.CANCELED), "CANCELED")
    for _ in range(300):
        if coid not in s.broker._replace_checks:
            break
        await asyncio.sleep(0.01)
    events = await settled(s)
    assert [u.filled_qty for u in updates(events, coid) if u.status is S.CANCELED] == [D("0.2")]
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty) == (S.CANCELED, D("0.2"))
    once_each(events, coid)


async def test_a_lost_modify_whose_answer_the_journal_refuses_is_written_later() -> None:
    """The check of a lost modify found the replacement, and Redis refused the write
    (READONLY, OOM): the check died there, silently, and the order read PENDING_REPLACE
    for ever while Binance worked the new one. It asks, and writes, again."""
    async with binance_session(
        balances={"USDT": "10000", "ETH": "2"}, orders_need_user_stream=False
    ) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        coid = await s.broker.place(req(s))
        await wait_for(s, ended(coid, S.NEW), "NEW")
        await settled(s)
        await s.driver.drop_connection()  # no stream: the check is what settles it
        deadline = time.monotonic() + 5
        while s.broker.user.subscribed:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        journal = s.bus.publish
        refuse = [False]

        async def redis_refusing_once(event: EventBase) -> str | None:
            if refuse[0] and event.type == "order.update":
                refuse[0] = False
                raise BusError("Redis refused the write: it was not journaled")
            return await journal(event)

        s.bus.publish = redis_refusing_once  # type: ignore[method-assign]
        s.fake.reset_next_requests(1, after_processing=True, path="/api/v3/order/cancelReplace")
        with pytest.raises(BrokerTimeout):
            await s.broker.modify(coid, limit_price=D("1985"))
        refuse[0] = True
        await wait_for(s, lambda ev: statuses(ev, coid)[-1] is S.NEW, "the answer")
        assert not refuse[0], "the bus never refused"
        answer = updates(await s.events(), coid)[-1]
        assert answer.limit_price == D(1985)


async def until(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.01)


async def lost_modify_with_the_stream_away(s: Session, **change: Decimal) -> str:
    """An order modified with its answer lost, Binance having done it, the user stream
    away (its reports do not settle it) and the check's first queries failing: what
    the test does next happens while the check asks."""
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    await s.driver.drop_connection()
    await until(lambda: not s.broker.user.subscribed, "the user stream down")
    await sendable(s)
    # Only the cancelReplace: the stream's reconnect attempts call REST meanwhile.
    s.fake.reset_next_requests(1, after_processing=True, path="/api/v3/order/cancelReplace")
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, **change)
    s.fake.fail_next_requests(9, after_processing=False)
    return coid


@pytest.fixture
async def half_blind() -> AsyncIterator[Session]:
    """Orders go out with the user stream down (`orders_need_user_stream: false`)."""
    async with binance_session(
        balances={"USDT": "10000", "ETH": "2"}, orders_need_user_stream=False
    ) as session:
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        yield session


async def test_a_cancel_while_a_lost_modify_is_checked_takes_the_new_terms(
    half_blind: Session,
) -> None:
    """A modify 0.5 -> 0.7 whose answer was lost; the replacement fills 0.6 while the
    stream is away; the trader cancels while the check asks. The cancel's answer was
    published at the old terms, the check's (with the new ones) came as a repeat, and
    the 0.6 filled landed on a 0.5 order: an overfill."""
    s = half_blind
    coid = await lost_modify_with_the_stream_away(s, quantity=D("0.7"))
    replacement = [o for o in s.fake.orders.values() if o.client_order_id == coid][-1]
    await s.fake.fill(replacement.order_id, "0.6")
    await until(lambda: s.fake.faults.failed_requests == 0, "the check's queries failed")
    await sendable(s, cancel=True)
    assert coid in s.broker._replace_checks
    await s.broker.cancel(coid)
    await until(lambda: coid not in s.broker._replace_checks, "the check done")
    events = await settled(s)
    orders, results = replay_orders(events)
    assert results[ApplyResult.OVERFILL] == 0
    assert (orders[coid].status, orders[coid].quantity, orders[coid].filled_qty) == (
        S.CANCELED,
        D("0.7"),
        D("0.6"),
    )


async def test_a_refused_cancel_while_a_lost_modify_is_checked_takes_the_new_terms(
    half_blind: Session,
) -> None:
    """Binance refuses the cancel (-2011) while the check asks: the query after it
    adopted the replacement at the old price, and the check's answer was a repeat."""
    s = half_blind
    coid = await lost_modify_with_the_stream_away(s, limit_price=D("1985"))
    await until(lambda: s.fake.faults.failed_requests == 0, "the check's queries failed")
    await sendable(s, cancel=True)
    assert coid in s.broker._replace_checks
    s.fake.refuse_next_cancel()
    with pytest.raises(UnknownOrder):
        await s.broker.cancel(coid)
    await until(lambda: coid not in s.broker._replace_checks, "the check done")
    orders, _ = replay_orders(await settled(s))
    assert (orders[coid].status, orders[coid].limit_price) == (S.NEW, D(1985))


async def test_modify_after_a_partial_fill_carries_what_filled(s: Session) -> None:
    coid = await s.broker.place(req(s, qty="0.5"))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id, "0.2")
    await wait_for(s, ended(coid, S.PARTIALLY_FILLED), "a partial fill")
    await settled(s)
    await s.broker.modify(coid, quantity=D("0.6"))
    new = [o for o in s.fake.orders.values() if o.client_order_id == coid][-1]
    assert new.orig_qty == D("0.4"), "the venue order is for what is left"
    await s.fake.fill(new.order_id)
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    assert updates(events, coid)[-1].filled_qty == D("0.6")
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty, orders[coid].quantity) == (
        S.FILLED,
        D("0.6"),
        D("0.6"),
    )
    once_each(events, coid)


async def test_a_replace_whose_new_order_fails_leaves_the_order_cancelled(s: Session) -> None:
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.reject_next_order()
    with pytest.raises(CancelReplaceFailed, match="cancelled the old order") as info:
        await s.broker.modify(coid, limit_price=D("1985"))
    assert info.value.code == -2021
    events = await settled(s)
    assert statuses(events, coid)[-1] is S.CANCELED
    assert "modify failed" in updates(events, coid)[-1].reason


async def test_a_replace_of_an_order_that_filled_meanwhile_shows_it_filled(s: Session) -> None:
    coid = await s.broker.place(req(s))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.exchange.fill(s.fake.order_by_client_id(coid).order_id)  # reports held back
    with pytest.raises(CancelReplaceFailed) as info:
        await s.broker.modify(coid, limit_price=D("1985"))
    assert info.value.code == -2022
    events = await s.events()
    assert statuses(events, coid)[-1] is S.FILLED
    assert sum(f.quantity for f in fills(events, coid)) == D("0.5")
    await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])  # the held reports go
    events = await settled(s)
    once_each(events, coid)


# -- queries -----------------------------------------------------------------------------


async def test_positions_are_base_balances_and_queries(s: Session) -> None:
    coid = await s.broker.place(req(s, side=Side.SELL, qty="0.5", limit_price=D("2100")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    [position] = await s.broker.positions()
    assert (position.instrument, position.quantity) == (KEY, D(2))  # free 1.5 + locked 0.5
    balances = {b.currency: b for b in await s.broker.balances()}
    assert (balances["ETH"].available, balances["ETH"].locked) == (D("1.5"), D("0.5"))
    venue = await s.broker.query_order(coid)
    assert venue is not None
    assert venue.status is S.NEW
    assert await s.broker.query_order("never-placed") is None


async def test_reconcile_asks_from_the_last_journaled_fill(s: Session) -> None:
    since = time.time_ns()
    first = await s.broker.place(req(s, qty="0.1", limit_price=D("2001")))
    second = await s.broker.place(req(s, qty="0.2", limit_price=D("2001")))
    await wait_for(s, lambda ev: ended(first, S.FILLED)(ev) and ended(second, S.FILLED)(ev), "")
    events = await settled(s)
    [last_of_first] = fills(events, first)
    report = await s.broker.reconcile(since, {KEY: last_of_first})
    assert [f.client_order_id for f in report.fills] == [second]
    everything = await s.broker.reconcile(since)
    assert {f.exec_id for f in everything.fills} == {f.exec_id for f in fills(events)}
    assert {p.instrument: p.quantity for p in report.positions}[KEY] == D("2.3")
    assert any(isinstance(e, FillEvent) for e in events)


def position_before(events: list[EventBase], coid: str, status: OrderStatus) -> Decimal | None:
    """The last position journaled before `coid`'s first `status` update."""
    held: Decimal | None = None
    for event in events:
        if isinstance(event, PositionEvent) and event.payload.instrument == KEY:
            held = event.payload.quantity
        if (
            isinstance(event, OrderUpdateEvent)
            and event.payload.client_order_id == coid
            and event.payload.status is status
        ):
            return held
    raise AssertionError(f"no {status} for {coid}")


async def test_a_status_is_journaled_after_the_balances_it_moved() -> None:
    """A reader that sees FILLED finds the position (here net of a fee in ETH) already
    journaled: from the REST reply (a market buy) and from the stream (a resting buy)."""
    async with binance_session(commission=Commission(mode="received")) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        bought = await s.broker.place(
            req(s, qty="0.5", order_type=OrderType.MARKET, tif=TimeInForce.IOC)
        )
        events = await wait_for(s, ended(bought, S.FILLED), "the market buy FILLED")
        fee = sum((f.fee for f in fills(events, bought)), D(0))
        assert fee > 0
        assert position_before(events, bought, S.FILLED) == D("0.5") - fee
        resting = await s.broker.place(req(s, qty="0.5", limit_price=D("1990")))
        await wait_for(s, ended(resting, S.NEW), "NEW")
        await s.fake.fill(s.fake.order_by_client_id(resting).order_id)
        events = await wait_for(s, ended(resting, S.FILLED), "the resting buy FILLED")
        fee += sum((f.fee for f in fills(events, resting)), D(0))
        assert position_before(events, resting, S.FILLED) == D(1) - fee
        # Balances are journaled when they change, not again when Binance repeats them.
        events = await settled(s)
        usdt = [e.payload for e in events if isinstance(e, BalanceEvent)]
        assert all(a != b for a, b in itertools.pairwise(usdt))


async def test_built_by_the_registry_from_config() -> None:
    async with binance_session(connect=False) as s:
        broker = BrokerRegistry(discover=False).create(s.broker.binance, s.bus)
        assert isinstance(broker, BinanceBroker)
        assert (broker.kind, broker.order_links) == ("binance", ("rest", "user"))
        caps = broker.capabilities
        assert caps.modify is ModifyStyle.CANCEL_REPLACE
        assert (caps.post_only, caps.cancel_all_native, caps.short_selling) == (True, True, False)
        assert caps.market_data == set(MarketDataKind)


@pytest.mark.parametrize(("recv_window_ms", "window_s"), [(5000, 10.0), (60_000, 65.0)])
async def test_a_lost_answer_is_final_only_after_binances_receive_window(
    recv_window_ms: int, window_s: float
) -> None:
    """Binance acts on a signed request until its `recvWindow` (up to 60 s) has passed:
    an order (or change) whose answer was lost is not taken for "never reached Binance"
    (or "did nothing") before then, plus 5 s for the clock offset and the link. It was
    10 s whatever the window."""
    async with binance_session(connect=False, recv_window_ms=recv_window_ms) as s:
        assert s.broker.unknown_order_window_s == window_s


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"tif": TimeInForce.DAY}, "tif"),
        ({"order_type": OrderType.MARKET, "tif": TimeInForce.FOK}, "tif"),
        # STOP_LOSS takes no timeInForce at Binance: it waits (GTC) until triggered.
        (
            {
                "order_type": OrderType.STOP,
                "limit_price": None,
                "stop_price": D(1980),
                "tif": TimeInForce.FOK,
            },
            "tif",
        ),
    ],
)
async def test_what_binance_does_not_take_is_refused_before_sending(
    s: Session, fields: dict[str, Any], rule: str
) -> None:
    journaled = len(await s.events())
    with pytest.raises(OrderValidationError) as info:
        await s.broker.place(req(s, **fields))
    assert rule in {issue.field for issue in info.value.issues}
    assert len(await s.events()) == journaled
    assert ("POST", "/api/v3/order") not in s.fake.requests


async def test_a_modify_while_a_fill_s_status_waits_counts_the_fill(s: Session) -> None:
    """0.3 of 1.0 fills; its PARTIALLY_FILLED waits for the balances it moved (the
    account event is late). A price change meanwhile sent a replacement for the whole
    1.0 (the filled part bought again); it is for the 0.7 left."""
    coid = await s.broker.place(req(s, qty="1.0"))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.lose_next_account_event()
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id, qty="0.3")
    await wait_for(s, lambda ev: bool(fills(ev)), "the fill")
    assert S.PARTIALLY_FILLED not in statuses(await s.events(), coid)  # still waiting
    await s.broker.modify(coid, limit_price=D("1985"))
    [*_, working] = [o for o in s.fake.exchange.orders.values() if o.client_order_id == coid]
    assert working.status == "NEW"
    assert (working.orig_qty, working.price) == (D("0.7"), D("1985"))
    events = await wait_for(s, ended(coid, S.PARTIALLY_FILLED), "PARTIALLY_FILLED")
    orders, _ = replay_orders(events)
    assert (orders[coid].quantity, orders[coid].filled_qty) == (D("1.0"), D("0.3"))


async def test_finished_orders_beyond_a_window_are_let_go(s: Session) -> None:
    """An active desk's day of orders stayed in the adapter (about 1.3 KB each, and the
    health loop counted the working ones among all of them every second): finished
    ones beyond `finished_kept` are let go; working ones always stay."""
    s.broker.finished_kept = 2
    working = await s.broker.place(req(s, limit_price=D("1980")))
    done = []
    for n in range(4):
        coid = await s.broker.place(req(s, limit_price=D(1970 + n)))
        await wait_for(s, ended(coid, S.NEW), "NEW")
        await s.broker.cancel(coid)
        await wait_for(s, ended(coid, S.CANCELED), "CANCELED")
        done.append(coid)
    followed = set(s.broker._orders)
    assert followed == {working, *done[-2:]}
    await s.broker.cancel(working)  # what is let go leaves nothing behind that acts
    await wait_for(s, ended(working, S.CANCELED), "CANCELED")
    assert set(s.broker._orders) == {*done[-1:], working}
    events = await settled(s)
    assert [statuses(events, coid).count(S.CANCELED) for coid in done] == [1, 1, 1, 1]


async def test_fills_of_orders_let_go_leave_memory_with_them(s: Session) -> None:
    """The exec ids of every fill of the day stayed in the adapter after their orders
    were let go (a set growing by each fill, all day): they leave with their order, and
    a kept order's fill reported again is still published once."""
    s.broker.finished_kept = 2
    done = []
    for n in range(4):
        coid = await s.broker.place(req(s, qty="0.1", limit_price=D(1970 + n)))
        await wait_for(s, ended(coid, S.NEW), "NEW")
        order_id = s.fake.order_by_client_id(coid).order_id
        await s.fake.fill(order_id, "0.05")
        await s.fake.fill(order_id)
        await wait_for(s, ended(coid, S.FILLED), "FILLED")
        done.append(coid)
    events = await settled(s)
    kept = {f.exec_id for coid in done[-2:] for f in fills(events, coid)}
    assert len(kept) == 4
    assert s.broker._published_execs == kept
    for coid in done:
        once_each(events, coid)
    last = fills(events, done[-1])[-1]
    await s.broker.publish_fill(last)  # reported again (a catch-up): not journaled twice
    events = await settled(s)
    assert [f.exec_id for f in fills(events, done[-1])].count(last.exec_id) == 1
