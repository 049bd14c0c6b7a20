"""Three money defects of the paper desk, reproduced at the venue, the adapter and the
engine (the trader's review, `checks.short_selling: true`):

1. A filled short's proceeds were published as available cash: the venue holds them
   back (with the short's margin) and refused the buy the desk's ticket had passed
   (`need 85,085.00 USDT, available 67,469.13`). The balance's available is now the
   venue's buying power, the figure its funds check refuses against.
2. With `fees.currency: base` a buy's fee comes out of the position at the venue
   whatever `short_selling` says; the engine counted the broker as "spot" (fees out of
   positions) only with short selling off, showed 2.5 where the venue held 2.4975 and
   went DEGRADED. The broker now says so in its capabilities.
3. A reduce-only close left working after another order flattened the position stayed
   working (and with short selling locked cash for a short it would never sell). The
   venue now cancels it as the position goes flat or to the other side, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerError, InsufficientFunds
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.brokers.paper.orders import REDUCE_ONLY_DONE
from silvertine_tui.brokers.paper.venue import PaperVenue
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import PaperBrokerConfig, RiskConfig
from silvertine_tui.domain import (
    Balance,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.domain.money import fmt
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.projection import project
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from silvertine_tui.events import BalanceEvent, OrderRequestEvent, OrderUpdateEvent
from silvertine_tui.events.summary import describe
from tests.unit.test_paper_broker import exec_events, paper_config
from tests.unit.test_paper_venue import BUY, KEY, SELL, T0, book, make_venue, req

BTC, ETH, AAPL = "BTCUSDT.PAPER", "ETHUSDT.PAPER", "AAPL.PAPER"
RATE = D("1.001")  # 1 + max(maker 8 bps, taker 10 bps)


def desk_config(**overrides: object) -> PaperBrokerConfig:
    """The review's desk: seed 7, the market stepped by hand, no latency."""
    values: dict[str, object] = {
        "symbols": ["BTCUSDT", "ETHUSDT", "AAPL"],
        "latency": {"enabled": False},
        "checks": {"short_selling": True},
    }
    values.update(overrides)
    return paper_config(**values)


def request(
    coid: str,
    instrument: str,
    side: Side,
    qty: str,
    limit: str | None = None,
    *,
    reduce_only: bool = False,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=instrument,
        side=side,
        order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        quantity=D(qty),
        limit_price=D(limit) if limit is not None else None,
        tif=TimeInForce.GTC if limit is not None else TimeInForce.IOC,
        reduce_only=reduce_only,
    )


async def published(bus: MemoryBus, currency: str) -> Balance:
    """The newest balance of `currency` the adapter journaled."""
    found = [
        e.payload
        for e in await exec_events(bus)
        if isinstance(e, BalanceEvent) and e.payload.currency == currency
    ]
    assert found, f"no {currency} balance journaled"
    return found[-1]


# -- 1. available is what the venue lets a buy spend ------------------------------------


async def test_a_short_s_proceeds_are_not_published_as_available() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(desk_config(), bus)
    await broker.connect()
    await broker.step(2)
    await broker.place(request("s1", BTC, Side.SELL, "0.5"))
    await broker.settle()
    [short] = await broker.positions()
    assert short.quantity == D("-0.5")
    cost = -short.quantity * (short.avg_price or D(0))
    usdt = await published(bus, "USDT")
    assert usdt.locked == 0
    # The proceeds are in the cash, and held back with the margin: 2 x the short's cost.
    assert usdt.available == usdt.total - 2 * cost
    assert usdt.available < usdt.total
    assert {b.currency: b for b in await broker.balances()}["USDT"] == usdt
    # The review's buy: more than available, less than the cash. The venue refuses it
    # naming the very figure published.
    need = 25 * D("3400") * RATE
    assert usdt.available < need < usdt.total
    with pytest.raises(InsufficientFunds) as refused:
        await broker.place(request("b1", ETH, Side.BUY, "25", "3400"))
    assert str(refused.value) == (
        f"insufficient balance: need {fmt(need, 2)} USDT, available {fmt(usdt.available, 2)}"
    )
    # What available says can be spent is taken.
    most = (usdt.available / (D("3400") * RATE)).quantize(D("0.0001"), rounding="ROUND_DOWN")
    await broker.place(request("b2", ETH, Side.BUY, f"{most}", "3400"))
    after = await published(bus, "USDT")
    assert after.locked == most * D("3400") * RATE
    assert after.available == usdt.available - after.locked
    await broker.close()
    await bus.close()


SCRIPT = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.sampled_from(["0.2", "1.1", "5", "10"])),
    max_size=5,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=SCRIPT,
    fraction=st.integers(min_value=1, max_value=99),
    cash=st.sampled_from(["60000", "150000"]),
)
def test_a_buy_is_taken_exactly_when_the_published_available_pays_for_it(
    script: list[tuple[Side, str]], fraction: int, cash: str
) -> None:
    """Any ETH trades (longs, shorts, flips) then a resting BTC limit buy: the venue
    takes it exactly when its reservation fits the USDT available last published. The
    desk's ticket judges a buy against that figure: it never passes what the venue
    refuses, nor refuses what it takes."""

    async def run() -> None:
        bus = MemoryBus()
        await bus.start()
        broker = PaperBroker(desk_config(starting_cash={"USDT": cash, "USD": "0"}), bus)
        await broker.connect()
        await broker.step(2)
        for n, (side, size) in enumerate(script):
            with contextlib.suppress(BrokerError):  # refused by the venue: changes nothing
                await broker.place(request(f"e{n}", ETH, side, size))
        await broker.settle()
        available = (await published(bus, "USDT")).available
        book = broker.venue.book(BTC)
        assert book is not None
        price = book.bids[-1][0]  # below the market: it rests, nothing fills
        qty = (D(cash) * 2 * fraction / 100 / price).quantize(D("0.00001"), rounding="ROUND_DOWN")
        need = qty * price * RATE
        try:
            await broker.place(request("b", BTC, Side.BUY, f"{qty}", f"{price}"))
        except InsufficientFunds:
            taken = False
        else:
            taken = True
        assert taken is (need <= available), (need, available)
        await broker.close()
        await bus.close()

    asyncio.run(run())


# -- 2. a base fee comes out of the engine's position as out of the venue's -------------


@pytest.mark.parametrize("short_selling", [False, True], ids=["no shorts", "shorts"])
async def test_the_engine_takes_a_base_fee_out_of_the_position_as_the_venue_does(
    short_selling: bool,
) -> None:
    config = desk_config(
        fees={"taker_bps": "10", "currency": "base"}, checks={"short_selling": short_selling}
    )
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(config, bus)
    engine = TradingEngine(bus, [broker], RiskConfig())
    await broker.connect()
    await engine.load_instruments()  # (applies the broker's profile: its capabilities)
    await broker.step(2)
    book = broker.venue.book(ETH)
    assert book is not None
    engine.portfolio.apply_quote(book.to_quote())
    await engine.submit(request("b1", ETH, Side.BUY, "2.5"))
    await broker.settle()
    await replay_stream(engine, bus.layout.exec("paper", "main"))
    [venue_position] = await broker.positions()
    assert venue_position.quantity == D("2.4975")  # 2.5 less 10 bps of it
    assert engine.position("paper", "main", ETH) == D("2.4975")
    assert await reconcile_broker(engine, broker) == []
    assert engine.anomalies.total == 0
    assert broker.capabilities.asset_fees_in_position  # (what the engine asked)
    # A desk rebuilt from the bus alone (its profile, then the journal) agrees.
    rebuilt = await project(bus, [("paper", "main")], snapshots=False)
    assert rebuilt.position("paper", "main", ETH) == D("2.4975")
    # The close the desk would offer is what the venue holds: it is taken and flattens.
    close = request("c1", ETH, Side.SELL, f"{engine.position('paper', 'main', ETH)}")
    await engine.submit(close.model_copy(update={"reduce_only": True}))
    await broker.settle()
    await replay_stream(engine, bus.layout.exec("paper", "main"))
    assert [p.quantity for p in await broker.positions()] in ([], [D(0)])
    assert engine.position("paper", "main", ETH) == 0
    assert engine.oms.orders["c1"].order.status is OrderStatus.FILLED
    await broker.close()
    await bus.close()


# -- 3. a reduce-only order ends when nothing is left to reduce --------------------------


async def statuses_and_reasons(bus: MemoryBus, coid: str) -> list[tuple[OrderStatus, str]]:
    return [
        (e.payload.status, e.payload.reason)
        for e in await exec_events(bus)
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


@pytest.mark.parametrize(
    ("plain", "position", "reason"),
    [
        ("10", D(0), REDUCE_ONLY_DONE),
        (
            "15",
            D(-5),
            "reduce-only: the position is -5 AAPL now, on the order's side: "
            "nothing is left to reduce",
        ),
    ],
    ids=["flat", "flipped"],
)
async def test_a_close_left_working_after_another_order_flattened_is_cancelled(
    plain: str, position: D, reason: str
) -> None:
    """Long 10 AAPL, a reduce-only SELL 10 @ 191 rests (the `x` close), then a plain
    market sell takes the position flat (or through it): the close is cancelled at
    once, saying why, and locks no cash. It stayed working, locking 10 x 191 x 1.001
    = 1,911.91 USD as if it were a short."""
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(desk_config(), bus)
    await broker.connect()
    await broker.step(2)
    await broker.place(request("b1", AAPL, Side.BUY, "10"))
    await broker.place(request("c1", AAPL, Side.SELL, "10", "191", reduce_only=True))
    await broker.place(request("s1", AAPL, Side.SELL, plain))
    await broker.settle()
    assert [p.quantity for p in await broker.positions() if p.instrument == AAPL] == (
        [position] if position else []
    )
    assert broker.venue.open_orders() == []
    said = await statuses_and_reasons(bus, "c1")
    assert said[-1] == (OrderStatus.CANCELED, reason)
    usd = await published(bus, "USD")
    assert usd.locked == 0
    if not position:
        assert usd.available == usd.total
    await broker.close()
    await bus.close()


def test_a_reduce_only_buy_is_cancelled_once_another_buy_covered_the_short() -> None:
    venue = make_venue(short_selling=True)
    venue.set_book(book([("2000", "10")], [("2001", "10")]), T0)
    venue.submit(req(SELL, "1"), T0)
    cover = req(BUY, "1", "1900", reduce_only=True)
    venue.submit(cover, T0 + 1)
    # What covering gives back pays for it: nothing more is locked (before, its fee).
    assert venue.account.locked.get("USDT", D(0)) == 0
    reports = venue.submit(req(BUY, "1"), T0 + 2)
    assert venue.account.position_qty(KEY) == 0
    ended = [r for r in reports if r.client_order_id == cover.client_order_id]
    assert [(r.status, r.reason) for r in ended] == [(OrderStatus.CANCELED, REDUCE_ONLY_DONE)]
    assert venue.account.locked["USDT"] == 0


def test_a_reduce_only_sell_beyond_the_position_locks_no_margin() -> None:
    """Long 1 with two reduce-only sells of 1 resting: the second cannot sell what the
    first holds, and a reduce-only order never sells short: it locks no cash (it
    locked 1 x 2,100 x 1.001 as a short sell's margin)."""
    venue = make_venue(short_selling=True)
    venue.set_book(book([("2000", "10")], [("2001", "10")]), T0)
    venue.submit(req(BUY, "1"), T0)
    venue.submit(req(SELL, "1", "2100", reduce_only=True), T0 + 1)
    venue.submit(req(SELL, "1", "2100", reduce_only=True), T0 + 2)
    assert venue.account.locked.get("USDT", D(0)) == 0


ACTION = st.one_of(
    st.tuples(st.just("market"), st.sampled_from([BUY, SELL]), st.sampled_from(["0.5", "1", "2"])),
    st.tuples(
        st.just("close"),
        st.sampled_from([BUY, SELL]),
        st.sampled_from(["0.5", "1", "2"]),
        st.sampled_from(["1990", "2010"]),
    ),
    st.tuples(st.just("book"), st.sampled_from(["1980", "2000", "2020"])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTION, max_size=12))
def test_no_reduce_only_order_works_that_cannot_reduce(actions: list[tuple[str, ...]]) -> None:
    """Any market orders, reduce-only limits and market moves with short selling on:
    after each, every working reduce-only order still reduces the position, none locks
    cash for a short, and what is locked is what the working orders reserve."""
    venue = make_venue(short_selling=True)
    venue.set_book(book([("1999", "5")], [("2001", "5")]), T0)
    for n, action in enumerate(actions):
        now = T0 + n + 1
        try:
            if action[0] == "market":
                venue.submit(req(action[1], action[2]), now)  # type: ignore[arg-type]
            elif action[0] == "close":
                venue.submit(req(action[1], action[2], action[3], reduce_only=True), now)  # type: ignore[arg-type]
            else:
                bid = D(action[1])
                venue.set_book(book([(str(bid - 1), "5")], [(str(bid + 1), "5")]), now)
        except BrokerError:
            pass
        position = venue.account.position_qty(KEY)
        working = venue.open_orders(KEY)
        for order in working:
            if order.reduce_only:
                reduces = (position > 0 and order.side is SELL) or (
                    position < 0 and order.side is BUY
                )
                assert reduces, (action, order.side, position)
                if order.side is SELL:
                    assert order.reserved_cash == 0, action
        assert venue.account.locked.get("USDT", D(0)) == sum(
            (o.reserved_cash for o in working), D(0)
        )


# -- the reduce-only flag is said ------------------------------------------------------


def test_the_send_line_says_reduce_only() -> None:
    instruments = PaperVenue.from_config(desk_config()).instruments.get
    close = request("st000000000000000101", AAPL, Side.SELL, "10", "191", reduce_only=True)
    line = describe(OrderRequestEvent.create("paper/main", close), instruments=instruments)
    assert line == "SEND SELL 10 AAPL.PAPER LIMIT @ 191.00 GTC reduce-only (…0101)"
    plain = close.model_copy(update={"reduce_only": False})
    assert describe(OrderRequestEvent.create("paper/main", plain), instruments=instruments) == (
        "SEND SELL 10 AAPL.PAPER LIMIT @ 191.00 GTC (…0101)"
    )
