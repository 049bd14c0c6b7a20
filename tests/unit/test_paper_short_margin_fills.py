"""A short sell's margin is judged at the prices it fills at (docs/paper-simulator.md,
"Checks", rule 5).

A filled short holds back its proceeds and a margin of its cost, both at the fill
price (`Account.buying_power`). A marketable limit sell fills at the bids, at or above
its limit: judged at its limit, it was accepted with the buying power it needed at the
limit, and once filled higher held more than the account had (cash 1,000 USDT, a SELL
0.5 @ 1,990 filled at 2,000.00: buying power -1.00). A triggered stop-limit sell is
judged again as it triggers, as a triggered STOP is.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerError, InsufficientFunds
from silvertine_tui.brokers.paper import ExecReport, MarketBook, PaperVenue
from silvertine_tui.config import PaperChecksConfig, PaperFeesConfig, PaperFillConfig
from silvertine_tui.domain import OrderStatus, OrderType, Side, TimeInForce
from tests.unit.test_paper_venue import BUY, ETH, KEY, SELL, T0, fills_of, req


def venue(
    cash: str = "1000",
    *,
    leverage: str = "1",
    bid: str = "2000.00",
    slippage: str = "none",
) -> PaperVenue:
    v = PaperVenue(
        [ETH],
        cash={"USDT": D(cash)},
        fees=PaperFeesConfig(maker_bps=D("8"), taker_bps=D("10")),
        fill=PaperFillConfig(slippage=slippage, slippage_ticks=2),
        checks=PaperChecksConfig(leverage=D(leverage), short_selling=True),
    )
    v.set_book(MarketBook.of(KEY, [(bid, "10")], [(str(D(bid) + D("0.50")), "10")]), T0)
    return v


def test_a_marketable_short_sell_is_judged_at_the_bid_it_fills_at() -> None:
    """SELL 0.5 @ 1,990 with the bid at 2,000: it fills at 2,000.00 and holds 1,000.00
    of proceeds and 1,000.00 of margin, with a fee of 1.00; of 1,000 USDT it needs
    1,001.00, as a market sell of 0.5 does. Judged at its limit (995.995) it went
    through and left buying power at -1.00."""
    v = venue()
    with pytest.raises(InsufficientFunds, match=r"need 1,001\.00 USDT, available 1,000\.00"):
        v.submit(req(SELL, "0.5", "1990.00"), T0)
    assert v.account.position_qty(KEY) == 0
    assert v.account.buying_power("USDT") == D("1000")
    with pytest.raises(InsufficientFunds, match=r"need 1,001\.00 USDT"):
        v.submit(req(SELL, "0.5"), T0)  # the market sell: refused alike


def test_what_fits_at_the_bid_fills_and_leaves_buying_power_at_zero_or_more() -> None:
    v = venue()
    fills = fills_of(v.submit(req(SELL, "0.499", "1990.00"), T0))
    assert [(f.price, f.quantity) for f in fills] == [(D("2000.00"), D("0.499"))]
    # 1,000 - 998.00 of margin - 0.998 of fee
    assert v.account.buying_power("USDT") == D("1.002")


def test_the_part_that_rests_is_judged_at_its_limit() -> None:
    """0.3 at the bid of 2,000.00, nothing more until 1,995.00: a SELL 0.5 @ 1,995.00
    fills 0.3 at the bid (600.00 + fee 0.60) and rests 0.2 at its limit, where it
    fills (0.2 x 1,995 x 1.001 = 399.399): 999.999 of 1,000, accepted. Judged whole at
    the bid (1,001.00) it would be refused; 0.501 needs 1,001.9958 (said 1,002.00): refused."""
    thin = MarketBook.of(KEY, [("2000.00", "0.3")], [("2000.50", "10")])
    v = venue()
    v.set_book(thin, T0)
    sell = req(SELL, "0.5", "1995.00")
    v.submit(sell, T0)
    held = v.order(sell.client_order_id)
    assert held is not None
    assert (held.filled_qty, held.status) == (D("0.3"), OrderStatus.PARTIALLY_FILLED)
    assert v.account.buying_power("USDT") == D("1000") - D("600.60") - D("0.2") * D("1995.00") * D(
        "1.001"
    )
    more = venue()
    more.set_book(thin, T0)
    with pytest.raises(InsufficientFunds, match=r"need 1,002\.00 USDT, available 1,000\.00"):
        more.submit(req(SELL, "0.501", "1995.00"), T0)


def test_a_stop_limit_sell_is_judged_again_as_it_triggers() -> None:
    """A STOP_LIMIT SELL 0.5 stop 1,995 limit 1,990 is accepted at its limit (995.995
    of 1,000). The bid falls to 1,995.00 and triggers it: it fills there, which needs
    997.50 + 0.9975, and fits. With the stop at 1,999.50 the bid falling to 1,999.00
    triggers it where it would need 999.50 + 0.9995: it expires, saying why, nothing
    filled, as a triggered STOP that cannot pay does."""
    ok = venue()
    ok.submit(req(SELL, "0.5", "1990.00", kind=OrderType.STOP_LIMIT, stop="1995.00"), T0)
    ok.set_book(MarketBook.of(KEY, [("1995.00", "10")], [("1995.50", "10")]), T0 + 1)
    assert ok.account.position_qty(KEY) == D("-0.5")
    assert ok.account.buying_power("USDT") >= 0

    v = venue()
    stop = req(SELL, "0.5", "1990.00", kind=OrderType.STOP_LIMIT, stop="1999.50")
    v.submit(stop, T0)
    reports = v.set_book(MarketBook.of(KEY, [("1999.00", "10")], [("1999.50", "10")]), T0 + 1)
    held = v.order(stop.client_order_id)
    assert held is not None
    assert held.status is OrderStatus.EXPIRED
    assert held.filled_qty == 0
    assert any("insufficient balance" in r.reason for r in reports)
    assert v.account.position_qty(KEY) == 0
    assert v.account.buying_power("USDT") == D("1000")


def test_a_replace_that_makes_a_short_sell_marketable_is_judged_at_the_bid() -> None:
    v = venue()
    sell = req(SELL, "0.5", "2050.00")
    with pytest.raises(InsufficientFunds):
        v.submit(sell, T0)  # 1,026.0 at its limit: refused already
    resting = req(SELL, "0.49", "2010.00")  # 985.83... at its limit: rests
    v.submit(resting, T0)
    with pytest.raises(InsufficientFunds):
        # Moved to 1,990 it would fill at the bid: 0.49 x 2,000 x 1.001 = 980.98, fine;
        # grown to 0.5 it needs 1,001.00 at the bid (995.995 at 1,990).
        v.replace(resting.client_order_id, T0, quantity=D("0.5"), limit_price=D("1990.00"))
    held = v.order(resting.client_order_id)
    assert held is not None
    assert (held.quantity, held.limit_price, held.filled_qty) == (D("0.49"), D("2010.00"), 0)
    v.replace(resting.client_order_id, T0, limit_price=D("1990.00"))
    assert v.account.position_qty(KEY) == D("-0.49")
    assert v.account.buying_power("USDT") >= 0


# -- whatever a trader does: fills of accepted orders never take buying power below 0 --


@dataclass(frozen=True)
class Submit:
    side: Side
    kind: OrderType
    lots: int  # of 0.01; 0: all that the buying power (and a sell's position) pays for
    offset: int  # ticks of 0.25 from the touch: positive crosses (marketable)
    tif: TimeInForce


@dataclass(frozen=True)
class Replace:
    index: int
    lots: int
    offset: int


@dataclass(frozen=True)
class Cancel:
    index: int


@dataclass(frozen=True)
class Move:
    by: int  # the bid moves by this many 0.25 ticks (kept within 1,980 to 2,020)


Action = Submit | Replace | Cancel | Move

TICK = D("0.25")
ACTIONS = st.lists(
    st.one_of(
        st.builds(
            Submit,
            st.sampled_from([BUY, SELL]),
            st.sampled_from(
                [OrderType.LIMIT, OrderType.MARKET, OrderType.STOP_LIMIT, OrderType.STOP]
            ),
            st.one_of(st.just(0), st.integers(1, 60)),
            st.integers(-8, 12),
            st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC]),
        ),
        st.builds(Replace, st.integers(0, 30), st.integers(1, 60), st.integers(-8, 12)),
        st.builds(Cancel, st.integers(0, 30)),
        st.builds(Move, st.integers(-24, 24)),
        st.builds(Move, st.integers(-24, 24)),
    ),
    min_size=2,
    max_size=20,
)


def ladder(bid: D) -> MarketBook:
    """Three levels a side, 1.00 apart, thin enough that orders walk them and rest."""
    bids = [(str(bid - i), "0.2") for i in range(3)]
    asks = [(str(bid + 1 + i), "0.2") for i in range(3)]
    return MarketBook.of(KEY, bids, asks)


def _price(v: PaperVenue, side: Side, offset: int) -> D:
    """`offset` ticks through the touch (positive: marketable), on the 0.01 grid."""
    book = v.book(KEY)
    assert book is not None
    if side is SELL:
        return book.bids[0][0] - offset * TICK
    return book.asks[0][0] + offset * TICK


def _all_in(v: PaperVenue, side: Side, price: D) -> str:
    """The most the buying power pays for at `price` with the fee at the higher rate
    (a sell: and the position it holds; a buy: and what covering the short gives
    back), on the 0.001 lot: the edge the check is on."""
    acct = v.account
    if side is SELL:
        spend, held = acct.buying_power("USDT"), acct.sellable(KEY)
    else:
        short = max(-acct.position_qty(KEY), D(0))
        back = acct.cover_credit(KEY, short, short * price)
        spend, held = acct.buying_power("USDT") + max(back, D(0)), D(0)
    most = spend / (price * D("1.001")) + held
    return str(max(most, D("0.01")).quantize(D("0.001"), rounding="ROUND_DOWN"))


def _apply(v: PaperVenue, action: Action, sent: list[str], now: int) -> list[ExecReport]:
    if isinstance(action, Move):
        book = v.book(KEY)
        assert book is not None
        bid = min(max(book.bids[0][0] + action.by * TICK, D("1980")), D("2020"))
        return v.set_book(ladder(bid), now)
    if isinstance(action, Submit):
        price = _price(v, action.side, action.offset)
        qty = str(D(action.lots) / 100) if action.lots else _all_in(v, action.side, price)
        # Buys rest and wait as sells do: one that buys back a short locks what it needs
        # beyond its share of what covering gives back (tests/unit/test_paper_cover_lock.py).
        tif = action.tif
        kind = action.kind
        if action.kind is OrderType.MARKET:
            request = req(action.side, qty)
        elif kind is OrderType.STOP:
            # Triggered, it buys or sells at the market: judged again then.
            stop = price + (2 * TICK if action.side is SELL else -2 * TICK)
            request = req(action.side, qty, kind=OrderType.STOP, stop=str(stop), tif=tif)
        elif kind is OrderType.STOP_LIMIT:
            # A stop a few ticks short of the touch (it waits, or triggers at once).
            stop = price + (2 * TICK if action.side is SELL else -2 * TICK)
            request = req(
                action.side,
                qty,
                str(price),
                kind=OrderType.STOP_LIMIT,
                stop=str(stop),
                tif=tif,
            )
        else:
            request = req(action.side, qty, str(price), tif=tif)
        sent.append(request.client_order_id)
        return v.submit(request, now)
    if not sent:
        return []
    cid = sent[action.index % len(sent)]
    held = v.order(cid)
    if held is None or held.status.is_terminal:
        return []
    if isinstance(action, Cancel):
        return v.cancel(cid, now)
    limit = None
    if held.limit_price is not None and not held.is_stop:
        limit = _price(v, held.side, action.offset)
    return v.replace(cid, now, quantity=held.filled_qty + D(action.lots) / 100, limit_price=limit)


def held(v: PaperVenue) -> tuple[object, ...]:
    """What a refusal must leave as it was: the cash, what is locked (none and 0 alike),
    the position, and each working order's terms and reservation."""
    acct = v.account
    orders = tuple(
        (o.client_order_id, o.quantity, o.limit_price, o.reserved_cash, o.reserved_qty)
        for o in v.open_orders(KEY)
    )
    locked = (acct.locked.get("USDT", D(0)), acct.locked_qty.get(KEY, D(0)))
    return dict(acct.cash), locked, acct.position_qty(KEY), orders


@settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    leverage=st.sampled_from(["1", "2", "3"]),
    cash=st.sampled_from(["300", "1000", "2500"]),
    slippage=st.sampled_from(["none", "fixed_ticks"]),
    actions=ACTIONS,
)
def test_fills_of_accepted_orders_never_take_buying_power_below_zero(
    leverage: str, cash: str, slippage: str, actions: list[Action]
) -> None:
    """Buys and short sells (marketable and resting limits, market, stops and
    stop-limits; buys that cover the short among them), replaces, cancels and book
    moves, short selling on: buying power (the balance's available) is never
    negative after anything the venue accepted or any fill that followed; a refusal
    changes nothing; and cash + the position at the mark is the starting cash plus
    the trading gains at the mark less the fees, exactly (the account's conservation)."""
    v = venue(cash, leverage=leverage, slippage=slippage)
    v.set_book(ladder(D("2000.00")), T0)
    sent: list[str] = []
    fills = []
    for n, action in enumerate(actions):
        now = T0 + n + 1
        before = held(v)
        try:
            reports = _apply(v, action, sent, now)
        except BrokerError:
            assert held(v) == before, action
            continue
        fills += fills_of(reports)
        assert v.account.buying_power("USDT") >= 0, (action, v.account.buying_power("USDT"))
        # What the adapter publishes: every balance a call reports (a buy that covers
        # a short locks only what covering does not give back, from its acceptance on).
        for published in (r.balance for r in reports if r.balance is not None):
            assert published.buying_power >= 0, (action, published)
        working = v.open_orders(KEY)
        assert v.account.locked.get("USDT", D(0)) == sum((o.reserved_cash for o in working), D(0))
    book = v.book(KEY)
    assert book is not None
    assert book.mid is not None
    mark = book.mid
    gains = sum((f.quantity * (mark - f.price) * (1 if f.side is BUY else -1) for f in fills), D(0))
    fees = sum((f.fee for f in fills), D(0))
    equity = v.account.cash["USDT"] + v.account.position_qty(KEY) * mark
    assert equity == D(cash) + gains - fees
