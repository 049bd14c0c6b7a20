"""A resting buy that covers a paper short locks only what it needs beyond what
covering gives back (docs/paper-simulator.md, "Checks", rule 5).

A filled short holds back its proceeds and a margin of its cost (`Account.buying_power`).
A buy that covers it was accepted on what covering gives back, but while it rested it
locked its whole notional, so buying power (the balance's `available`) read below
zero: flat with 1,000 USDT, short 0.4 ETH at 2,000.00, a BUY 0.4 @ 1,990.00 resting:
available -597.596. And a second buy was accepted on the same short's give-back as the
first: both filled, the account could not pay for them.

The working buys of an instrument now share what covering the short gives back (its
cost, times 1 + leverage, less the leverage's share of the highest price a buy pays),
in time priority, each up to what it needs; what a buy needs beyond its share is
locked. They are reserved again as the short or the buys change.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerError, InsufficientFunds
from silvertine_tui.brokers.paper import ExecReport, MarketBook, PaperBroker, PaperVenue
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import PaperChecksConfig, PaperFeesConfig
from silvertine_tui.domain import OrderStatus, OrderType, Side
from tests.unit.test_paper_broker import eth_book, order, paper_config
from tests.unit.test_paper_leverage_sells import realized_drop
from tests.unit.test_paper_short_margin_fills import held
from tests.unit.test_paper_venue import BUY, ETH, KEY, SELL, T0, fills_of, req

RATE = D("1.001")  # 1 + max(maker 8 bps, taker 10 bps)
NO_LATENCY = {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 0, "jitter_ms": 0}


def short_04(leverage: str = "1", cash: str = "1000") -> PaperVenue:
    """Flat with `cash` USDT, then short 0.4 ETH at the bid of 2,000.00 (fee 0.80):
    with leverage 1, cash 1,799.20, the short's cost 800.00, buying power 199.20."""
    v = PaperVenue(
        [ETH],
        cash={"USDT": D(cash)},
        fees=PaperFeesConfig(maker_bps=D("8"), taker_bps=D("10")),
        checks=PaperChecksConfig(leverage=D(leverage), short_selling=True),
    )
    v.set_book(MarketBook.of(KEY, [("2000.00", "10")], [("2000.50", "10")]), T0)
    [fill] = fills_of(v.submit(req(SELL, "0.4"), T0))
    assert (fill.price, fill.fee) == (D("2000.00"), D("0.8"))
    return v


def bp(v: PaperVenue) -> D:
    return v.account.buying_power("USDT")


def locked(v: PaperVenue) -> D:
    return v.account.locked.get("USDT", D(0))


def reserved(v: PaperVenue) -> D:
    return sum((o.reserved_cash for o in v.open_orders(KEY)), D(0))


def test_the_brief_s_case_a_resting_cover_locks_nothing_it_gives_back() -> None:
    """Short 0.4 at 2,000.00 (buying power 199.20), a BUY 0.4 @ 1,990.00 rests: it
    needs 796.796 with its fee, and covering gives back 1,600.00 (the proceeds and
    the margin held back): it locks nothing, and buying power stays 199.20 (it read
    -597.596). It fills: flat, buying power is the cash."""
    v = short_04()
    assert bp(v) == D("199.2")
    cover = req(BUY, "0.4", "1990.00")
    reports = v.submit(cover, T0 + 1)
    assert v.order(cover.client_order_id) is not None
    assert locked(v) == 0
    assert bp(v) == D("199.2")
    published = [r.balance for r in reports if r.balance is not None]
    assert published[-1].buying_power == D("199.2")
    v.set_book(MarketBook.of(KEY, [("1989.00", "10")], [("1989.50", "10")]), T0 + 2)
    held = v.order(cover.client_order_id)
    assert held is not None
    assert held.status is OrderStatus.FILLED
    assert v.account.position_qty(KEY) == 0
    # 1,799.20 - 796.00 - 0.6368 (maker fee)
    assert bp(v) == v.account.cash["USDT"] == D("1002.5632")


def test_the_part_that_goes_long_is_locked_less_what_covering_gives_back() -> None:
    """BUY 0.9 @ 1,990.00 covers 0.4 and buys 0.5: it needs 1,792.791 and covering
    gives back 1,600.00: it locks 192.791 and leaves 6.409 (it locked all 1,792.791:
    -1,593.591). Filled, buying power is 6.7672. 0.91 needs 212.7109 more than the
    give-back: refused, naming it."""
    v = short_04()
    with pytest.raises(InsufficientFunds, match=r"need 212\.71 USDT, available 199\.20"):
        v.submit(req(BUY, "0.91", "1990.00"), T0 + 1)
    assert (locked(v), bp(v)) == (0, D("199.2"))
    v.submit(req(BUY, "0.9", "1990.00"), T0 + 1)
    assert locked(v) == D("192.791")
    assert bp(v) == D("6.409")
    v.set_book(MarketBook.of(KEY, [("1989.00", "10")], [("1989.50", "10")]), T0 + 2)
    assert v.account.position_qty(KEY) == D("0.5")
    assert (locked(v), bp(v)) == (0, D("6.7672"))


def test_two_buys_share_what_the_short_gives_back() -> None:
    """A BUY 0.8 @ 1,990 (1,593.592) takes all but 6.408 of the 1,600.00 the short
    gives back: a second BUY 0.4 @ 1,990 (796.796) gets 6.408 of it and needs 790.388
    more than the 199.20 there is: refused (it was taken on the whole give-back again,
    and the two filled took buying power to -591.0...). A BUY 0.1 fits; both fill and
    the account pays for them."""
    v = short_04()
    v.submit(req(BUY, "0.8", "1990.00"), T0 + 1)
    assert (locked(v), bp(v)) == (0, D("199.2"))
    with pytest.raises(InsufficientFunds, match=r"need 790\.39 USDT, available 199\.20"):
        v.submit(req(BUY, "0.4", "1990.00"), T0 + 2)
    assert (locked(v), bp(v)) == (0, D("199.2"))
    v.submit(req(BUY, "0.1", "1990.00"), T0 + 3)
    assert locked(v) == D("0.1") * D("1990.00") * RATE - D("6.408") == reserved(v)
    assert bp(v) == D("6.409")
    v.set_book(MarketBook.of(KEY, [("1989.00", "10")], [("1989.50", "10")]), T0 + 4)
    assert v.account.position_qty(KEY) == D("0.5")
    assert (locked(v), bp(v)) == (0, D("6.7672"))


def test_the_buys_are_reserved_again_as_the_short_shrinks_and_grows() -> None:
    """A BUY 0.5 @ 1,990 (995.995) rests on the 1,600.00 the short gives back: it
    locks nothing. A market BUY 0.2 covers half the short: what is left gives back
    800.00, and the resting buy locks 195.995 (the market buy is judged with that:
    it gives back 399.4999 itself). A SELL 0.1 grows the short to 0.3 (cost
    600.00): it gives back 1,200.00 and the buy locks nothing again."""
    v = short_04()
    v.submit(req(BUY, "0.5", "1990.00"), T0 + 1)
    assert locked(v) == 0
    v.submit(req(BUY, "0.2"), T0 + 2)
    assert v.account.position_qty(KEY) == D("-0.2")
    assert locked(v) == D("195.995") == reserved(v)
    # 199.20 + (800.00 - 400.10 - 0.4001) - 195.995
    assert bp(v) == D("402.7049")
    v.submit(req(SELL, "0.1"), T0 + 3)
    assert v.account.position_qty(KEY) == D("-0.3")
    assert locked(v) == 0 == reserved(v)
    # 402.7049 - 200.20 (the short sell's margin and fee) + 195.995
    assert bp(v) == D("398.4999")


def test_a_market_buy_is_judged_with_what_the_resting_buys_then_lock() -> None:
    """A resting BUY 0.8 @ 1,990 holds all but 6.408 of the give-back. A market BUY
    0.4 would cover the short itself and give back 798.9998 (1,600.00 - 800.20 -
    0.8002), but the resting buy then covers nothing and locks its 1,593.592: 794.5922
    more than the 199.20 there is. Refused (with the resting buy's whole notional
    locked, buying power read -1,394.392 already)."""
    v = short_04()
    v.submit(req(BUY, "0.8", "1990.00"), T0 + 1)
    with pytest.raises(InsufficientFunds, match=r"need 794\.59 USDT, available 199\.20"):
        v.submit(req(BUY, "0.4"), T0 + 2)
    assert (v.account.position_qty(KEY), locked(v), bp(v)) == (D("-0.4"), 0, D("199.2"))


def test_a_stop_buy_that_covers_locks_nothing_it_gives_back_and_fills() -> None:
    """A STOP BUY 0.4 stop 2,010.00 (804.804 at its stop) rests on the give-back: it
    locks nothing (it locked 804.804: buying power -605.604). The ask reaches 2,010.50:
    it triggers, is judged at the ask, fills, and the account is flat."""
    v = short_04()
    stop = req(BUY, "0.4", kind=OrderType.STOP, stop="2010.00")
    v.submit(stop, T0 + 1)
    assert (locked(v), bp(v)) == (0, D("199.2"))
    v.set_book(MarketBook.of(KEY, [("2010.00", "10")], [("2010.50", "10")]), T0 + 2)
    held = v.order(stop.client_order_id)
    assert held is not None
    assert held.status is OrderStatus.FILLED
    assert v.account.position_qty(KEY) == 0
    assert bp(v) == v.account.cash["USDT"] > 0


def test_with_leverage_a_resting_cover_locks_nothing_it_gives_back() -> None:
    """Leverage 3, 1,000 USDT, short 0.4 at 2,000.00: buying power 999.20 x 3 - 800.00
    = 2,197.60 (equity 999.20: the fee out of it). A BUY 0.4 @ 1,990.00 needs
    0.4 x 1,990 x 1.003 = 798.388; covering gives back 4 x 800.00 - 2 x 796.00 =
    1,608.00: it locks nothing (it locked 798.388)."""
    v = short_04(leverage="3")
    before = bp(v)
    assert before == D("999.2") * 3 - D("800")
    v.submit(req(BUY, "0.4", "1990.00"), T0 + 1)
    assert (locked(v), bp(v)) == (0, before)
    v.set_book(MarketBook.of(KEY, [("1989.00", "10")], [("1989.50", "10")]), T0 + 2)
    assert v.account.position_qty(KEY) == 0
    assert bp(v) == v.account.cash["USDT"] * 3 >= 0


def test_a_short_sell_below_the_short_s_price_is_judged_with_what_the_buys_then_lock() -> None:
    """Leverage 3, short 0.4 at 2,000.00 (buying power 2,197.60): a STOP BUY 1 stop
    2,100 (2,106.30 at its stop) covers the short and buys 0.6; covering gives back 4 x
    800.00 - 2 x 2,100 x 0.4 = 1,520.00: it locks 586.30 (it locked 2,106.30). The
    market falls to 1,000: a SELL 1.6 @ 1,000 fits its own margin (1,604.80 of
    1,611.30), but short at 1,000 the average falls to 1,200, covering gives back less
    and the stop buy would lock 320.00 more: buying power -313.50 once it filled. A
    sell that may add to the short below its average is judged with what the buys
    would lock with the short covered at the lowest price it sells at (2,306.30: a
    cover at more than twice that gives nothing back with leverage 3): its margin and
    1,720.00 more, refused, nothing changed."""
    v = short_04(leverage="3")
    stop = req(BUY, "1", kind=OrderType.STOP, stop="2100.00")
    v.submit(stop, T0 + 1)
    assert (locked(v), bp(v)) == (D("586.3"), D("1611.3"))
    v.set_book(MarketBook.of(KEY, [("1000.00", "10")], [("1000.50", "10")]), T0 + 2)
    before = held(v)
    with pytest.raises(InsufficientFunds, match=r"need 3,324\.80 USDT, available 1,611\.30"):
        v.submit(req(SELL, "1.6", "1000.00"), T0 + 3)
    assert held(v) == before
    assert (v.account.position_qty(KEY), bp(v)) == (D("-0.4"), D("1611.3"))


def test_a_replace_of_a_resting_cover_is_judged_on_what_the_cover_gives_back() -> None:
    """A resting BUY 0.4 @ 1,990 (locks nothing) changed to 0.91 needs 212.7109 beyond
    the give-back: refused, the order as it was; to 0.9 it locks 192.791 (it locked
    1,792.791)."""
    v = short_04()
    cover = req(BUY, "0.4", "1990.00")
    v.submit(cover, T0 + 1)
    with pytest.raises(InsufficientFunds, match=r"need 212\.71 USDT, available 199\.20"):
        v.replace(cover.client_order_id, T0 + 2, quantity=D("0.91"))
    held = v.order(cover.client_order_id)
    assert held is not None
    assert (held.quantity, locked(v), bp(v)) == (D("0.4"), 0, D("199.2"))
    v.replace(cover.client_order_id, T0 + 3, quantity=D("0.9"))
    assert (locked(v), bp(v)) == (D("192.791"), D("6.409"))


def test_a_cancelled_buy_s_share_goes_to_the_buys_after_it() -> None:
    """BUY 0.8 then BUY 0.1 @ 1,990: the second locks 192.791 (it has 6.408 of the
    give-back). The first is cancelled: the second covers with all of it and locks
    nothing."""
    v = short_04()
    first = req(BUY, "0.8", "1990.00")
    v.submit(first, T0 + 1)
    v.submit(req(BUY, "0.1", "1990.00"), T0 + 2)
    assert locked(v) == D("192.791")
    v.cancel(first.client_order_id, T0 + 3)
    assert (locked(v), bp(v)) == (0, D("199.2"))


async def test_a_restart_locks_what_the_live_venue_locked() -> None:
    """Short 0.4, a BUY 0.8 and a BUY 0.1 resting: live and after a restart from the
    journal the buys lock the same (the second's 0.1 beyond the give-back)."""
    config = paper_config(latency=NO_LATENCY, checks={"short_selling": True})
    bus = MemoryBus()
    await bus.start()
    first = PaperBroker(config, bus)
    await first.connect()
    await first.on_market_data(eth_book([(D("1990"), "5")], [(D("2010"), "5")]))
    await first.place(order("S", Side.SELL, "0.4"))
    await first.place(order("A", Side.BUY, "0.8", D("1900")))
    await first.place(order("B", Side.BUY, "0.3", D("1900")))
    await first.settle()
    live = first.venue.account.cash_state("USDT")
    assert 0 < live.locked < D("0.3") * D("1900") * RATE
    assert live.buying_power >= 0
    await first.close()

    second = PaperBroker(config, bus)
    await second.connect()
    assert second.venue.account.cash_state("USDT") == live
    await second.close()
    await bus.close()


# -- whatever the market does: buys resting on a short's give-back are always paid -------


@dataclass(frozen=True)
class Place:
    side: Side
    kind: OrderType
    lots: int  # of 0.05
    offset: int  # steps of `STEP` from the touch: positive crosses (a buy stop: waits)


@dataclass(frozen=True)
class Change:
    index: int
    lots: int
    offset: int


@dataclass(frozen=True)
class End:
    index: int


@dataclass(frozen=True)
class Jump:
    percent: int  # the bid moves by this much (kept within 500 to 8,000)


Step = Place | Change | End | Jump

STEP = D("20.00")
KINDS = [OrderType.LIMIT, OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT]
STEPS = st.lists(
    st.one_of(
        st.builds(
            Place,
            st.sampled_from([BUY, BUY, SELL]),
            st.sampled_from(KINDS),
            st.integers(1, 40),
            st.integers(-10, 6),
        ),
        st.builds(Change, st.integers(0, 20), st.integers(1, 40), st.integers(-10, 6)),
        st.builds(End, st.integers(0, 20)),
        st.builds(Jump, st.integers(-60, 150)),
        st.builds(Jump, st.integers(-10, 10)),
    ),
    min_size=2,
    max_size=16,
)


def wide(bid: D) -> MarketBook:
    """Three levels a side, `STEP` apart, a spread of one step."""
    bids = [(str(bid - i * STEP), "0.5") for i in range(3)]
    asks = [(str(bid + (1 + i) * STEP), "0.5") for i in range(3)]
    return MarketBook.of(KEY, bids, asks)


def _touch(v: PaperVenue, side: Side, offset: int) -> D:
    book = v.book(KEY)
    assert book is not None
    if side is SELL:
        return max(book.bids[0][0] - offset * STEP, D("0.01"))
    return book.asks[0][0] + offset * STEP


def _step(v: PaperVenue, step: Step, sent: list[str], now: int) -> list[ExecReport]:
    if isinstance(step, Jump):
        book = v.book(KEY)
        assert book is not None
        moved = book.bids[0][0] * (100 + step.percent) / 100
        bid = min(max(moved.quantize(D("0.01")), D("500")), D("8000"))
        return v.set_book(wide(bid), now)
    if isinstance(step, Place):
        price = _touch(v, step.side, step.offset)
        qty = str(D(step.lots) * D("0.05"))
        if step.kind is OrderType.MARKET:
            request = req(step.side, qty)
        elif step.kind is OrderType.STOP:
            request = req(step.side, qty, kind=OrderType.STOP, stop=str(price))
        elif step.kind is OrderType.STOP_LIMIT:
            stop = price - STEP if step.side is BUY else price + STEP
            request = req(step.side, qty, str(price), kind=OrderType.STOP_LIMIT, stop=str(stop))
        else:
            request = req(step.side, qty, str(price))
        sent.append(request.client_order_id)
        return v.submit(request, now)
    if not sent:
        return []
    cid = sent[step.index % len(sent)]
    held = v.order(cid)
    if held is None or held.status.is_terminal:
        return []
    if isinstance(step, End):
        return v.cancel(cid, now)
    limit = None
    if held.limit_price is not None and not held.triggered:
        limit = _touch(v, held.side, step.offset)
    more = D(step.lots) * D("0.05")
    return v.replace(cid, now, quantity=held.filled_qty + more, limit_price=limit)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    leverage=st.sampled_from(["1", "2", "3"]),
    cash=st.sampled_from(["500", "2000", "6000"]),
    steps=STEPS,
)
def test_buys_that_cover_a_short_are_paid_whatever_the_market_does(
    leverage: str, cash: str, steps: list[Step]
) -> None:
    """Short first, then buys that rest, cover and go long, sells that add to the
    short and sell the long (limits, market, stops, stop-limits), changes, cancels,
    and a market that moves far from the short's price (with leverage 3 a cover at
    twice the short's price gives nothing back): only a realized loss takes buying
    power below zero, after anything the venue accepted or any fill that followed, or
    in any balance it reports (with leverage a long sold below its cost takes it down
    by more than the cost it frees: a deficit, never refused; `realized_drop`); a
    refusal changes nothing; what is locked is what the working orders reserve; and
    cash + the position at the mark is the starting cash plus the gains at the mark
    less the fees, exactly.

    (Sells of a long were left out: a sell that filled before the sells ahead of it
    was credited its whole proceeds, a short's too, and a triggered STOP sell was
    not judged for what they then locked: tests/unit/test_paper_leverage_sells.py.)"""
    v = PaperVenue(
        [ETH],
        cash={"USDT": D(cash)},
        fees=PaperFeesConfig(maker_bps=D("8"), taker_bps=D("10")),
        checks=PaperChecksConfig(leverage=D(leverage), short_selling=True),
    )
    v.set_book(wide(D("2000.00")), T0)
    fills = fills_of(v.submit(req(SELL, "0.2"), T0))
    sent: list[str] = []
    position = v.account.position(KEY, "USDT")
    for n, step in enumerate(steps):
        now = T0 + n + 1
        before = held(v)
        floor = min(bp(v), D(0))
        try:
            reports = _step(v, step, sent, now)
        except BrokerError:
            assert held(v) == before, step
            continue
        fills += fills_of(reports)
        # Below zero (or lower in a deficit) only by what realized losses took.
        drop, position = realized_drop(D(leverage), position, reports)
        assert bp(v) >= floor - drop, (step, bp(v), floor, drop)
        for balance in (r.balance for r in reports if r.balance is not None):
            assert balance.buying_power >= floor - drop, (step, balance)
        assert locked(v) == reserved(v), step
    book = v.book(KEY)
    assert book is not None
    assert book.mid is not None
    mark = book.mid
    gains = sum((f.quantity * (mark - f.price) * (1 if f.side is BUY else -1) for f in fills), D(0))
    fees = sum((f.fee for f in fills), D(0))
    equity = v.account.cash["USDT"] + v.account.position_qty(KEY) * mark
    assert equity == D(cash) + gains - fees
