"""The ticket's fee estimate (`ui/fees.py`) against venues that charge a minimum.

A reviewer drove the desk against the fake TWS: after small EUR.USD fills charged IB's
2.00 USD minimum each, a 21,423 USD ticket read `fee~1,379.83` (6.4% of the notional)
and the funds check, which counts the fee, refused orders the account covered; after
6 AAPL shares charged the 1.00 minimum, 1,000 shares read about 167. The estimate now
tells a minimum from a rate: `max(rate x size, minimum)`."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import Fill, Instrument, Side
from silvertine_tui.ui.fees import FeeRate, FeeRates

D = Decimal

EUR_USD = Instrument(
    symbol="EUR.USD",
    venue="IDEALPRO",
    quote_currency="USD",
    tick_size=D("0.00005"),
    lot_size=D(1),
)
AAPL = Instrument(
    symbol="AAPL",
    venue="SMART",
    quote_currency="USD",
    tick_size=D("0.01"),
    lot_size=D(1),
    fee_per_unit=True,
)
BTC = Instrument(
    symbol="BTCUSDT",
    venue="BINANCE",
    quote_currency="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.00001"),
)

# The quantities of the EUR.USD fills the reviewer's 20,000 EUR order got first from
# the fake TWS (each charged 2 USD), at about 1.0705.
REVIEW_FX_FILLS = [4, 14, 10, 29, 1, 29, 26, 11, 11, 23, 14, 19, 25, 12, 23, 10, 1, 23, 18, 6]


def fill(
    instrument: Instrument,
    qty: Decimal | str | int,
    price: Decimal | str,
    fee: Decimal | str,
    n: int,
) -> Fill:
    return Fill(
        exec_id=f"x{n}",
        client_order_id=f"o{n}",
        broker="ib",
        account="DU1",
        instrument=instrument.key,
        side=Side.BUY,
        quantity=D(qty),
        price=D(price),
        fee=D(fee),
        fee_currency=instrument.quote_currency,
    )


def estimate(rates: FeeRates, instrument: Instrument) -> FeeRate:
    found = rates.rate("ib", instrument.key, instrument)
    assert found is not None
    return found


def test_fx_fills_charged_the_minimum_estimate_the_minimum_not_a_rate() -> None:
    """The reviewer's EUR.USD fills: 2 USD on 1 to 29 EUR. Taken as a rate (2 USD on
    the largest, 29 EUR), 20,000 EUR at 1.07115 read fee~1,379.83; IB charges 2 USD."""
    rates = FeeRates()
    for n, qty in enumerate(REVIEW_FX_FILLS):
        rates.learn(fill(EUR_USD, qty, "1.0705", "2", n), EUR_USD)
    rate = estimate(rates, EUR_USD)
    notional = EUR_USD.notional(D(20_000), D("1.07115"))
    assert rate.fee(D(20_000), notional) == D(2)
    assert rate.at_minimum(D(20_000), notional)
    # The close ticket of the review: 19,689 EUR, read fee~1,304.72.
    assert rate.fee(D(19_689), D("20857.54")) == D(2)
    # A group's instrument not filled yet gets the same (IB's FX from its FX).
    gbp = Instrument(symbol="GBP.USD", venue="IDEALPRO", quote_currency="USD",
                     tick_size=D("0.00005"), lot_size=D(1))  # fmt: skip
    other = rates.rate("ib", gbp.key, gbp)
    assert other is not None
    assert other.fee(D(10_000), D(12_700)) == D(2)


def test_shares_charged_the_minimum_then_a_rate() -> None:
    """6 and 8 AAPL shares charged 1.00 each: the minimum (the 8-share ticket read
    fee~1.33, 1,000 shares about 167). Once 400 shares are charged 2.00 (0.005 a
    share), the estimate is the rate above the minimum and the minimum below it."""
    rates = FeeRates()
    rates.learn(fill(AAPL, 6, "148.79", "1", 1), AAPL)
    rates.learn(fill(AAPL, 8, "148.70", "1", 2), AAPL)
    rate = estimate(rates, AAPL)
    assert rate.fee(D(8), D("1189.60")) == D(1)
    assert rate.fee(D(1), D("148.70")) == D(1)
    rates.learn(fill(AAPL, 400, "148.70", "2.00", 3), AAPL)
    rate = estimate(rates, AAPL)
    assert rate == FeeRate(D("0.005"), per_unit=True, minimum=D(1))
    assert rate.fee(D(1000), D(148_700)) == D(5)
    assert not rate.at_minimum(D(1000), D(148_700))
    assert rate.fee(D(8), D("1189.60")) == D(1)
    assert rate.at_minimum(D(8), D("1189.60"))


def test_a_fill_charged_far_above_the_rate_is_a_minimum() -> None:
    """1 share charged 1.00 and 1,000 charged 5.00: the 1.00 is no rate (200 times the
    large fill's), and an order of 1 share is not estimated at half a cent: the funds
    check would pass an order the venue charges 1.00 for."""
    rates = FeeRates()
    rates.learn(fill(AAPL, 1000, "150", "5.00", 1), AAPL)
    rates.learn(fill(AAPL, 1, "150", "1.00", 2), AAPL)
    rate = estimate(rates, AAPL)
    assert rate == FeeRate(D("0.005"), per_unit=True, minimum=D("1.00"))
    assert rate.fee(D(1), D(150)) == D(1)
    assert rate.fee(D(2000), D(300_000)) == D(10)


def test_a_rate_alone_shows_no_minimum() -> None:
    """A venue charging a rate only (Binance, 7.5 bps, maker or taker alike): fills of
    every size are proportional, so no minimum is made up, and a small order is
    estimated at the rate."""
    rates = FeeRates()
    fills = [("0.001", "65000"), ("0.5", "65010"), ("0.01", "64990"), ("2", "65020")]
    for n, (qty, price) in enumerate(fills):
        fee = D(qty) * D(price) * D("0.00075")
        rates.learn(fill(BTC, qty, price, fee, n), BTC)
    rate = estimate(rates, BTC)
    assert rate == FeeRate(D("0.00075"))
    assert rate.fee(D("0.0001"), D("6.5")) == D("0.004875")


# A fee schedule: `rate` per unit of size (notional or quantity) with a per-order
# minimum; each order fills at once.
SIZES = st.integers(min_value=1, max_value=200_000)
# More fills than are kept (`fees.KEPT`, 64).


@st.composite
def schedules(draw: st.DrawFn) -> tuple[bool, Decimal, Decimal, list[int]]:
    per_unit = draw(st.booleans())
    rate = D(draw(st.integers(min_value=1, max_value=2_000))) / D(100_000)
    minimum = D(draw(st.integers(min_value=25, max_value=500))) / D(100)
    quantities = draw(st.lists(SIZES, min_size=1, max_size=84))
    return per_unit, rate, minimum, quantities


PRICE = D("12.5")
# A rate worked out of one fill (3.33 USD on 207) is exact to 28 digits, not more.
ROUNDING = D("1.000000000001")


def learnt(per_unit: bool, rate: Decimal, minimum: Decimal, quantities: list[int]) -> FeeRate:
    """What FeeRates makes of fills charged max(rate x size, minimum)."""
    instrument = AAPL if per_unit else EUR_USD
    rates = FeeRates()
    for n, qty in enumerate(quantities):
        size = D(qty) if per_unit else D(qty) * PRICE
        rates.learn(fill(instrument, qty, PRICE, max(rate * size, minimum), n), instrument)
    return estimate(rates, instrument)


def sizes(per_unit: bool, quantities: list[int]) -> list[Decimal]:
    return [D(q) if per_unit else D(q) * PRICE for q in quantities]


def minimum_seen(rate: Decimal, minimum: Decimal, seen: list[Decimal]) -> bool:
    """Whether the fills show the minimum: two charged it at sizes a quarter apart, or
    one charged it where the rate alone would have charged under a third of it while
    the largest fill was charged the rate."""
    at_minimum = [s for s in seen if rate * s < minimum]
    if at_minimum and max(at_minimum) >= D("1.25") * min(at_minimum):
        return True
    return rate * max(seen) >= minimum and any(3 * rate * s < minimum for s in at_minimum)


@settings(max_examples=300, deadline=None)
@given(schedules(), SIZES)
def test_never_below_a_minimum_seen(
    schedule: tuple[bool, Decimal, Decimal, list[int]], order: int
) -> None:
    """Once the fills show the minimum, no order is estimated below it, and once a fill
    was also charged the rate, every order is estimated as the schedule charges it."""
    per_unit, rate, minimum, quantities = schedule
    seen = sizes(per_unit, quantities)
    estimated = learnt(per_unit, rate, minimum, quantities)
    size = D(order) if per_unit else D(order) * PRICE
    fee = estimated.fee(D(order), D(order) * PRICE)
    if minimum_seen(rate, minimum, seen):
        assert fee >= minimum
        assert estimated.minimum == minimum
        if any(rate * s >= minimum * D("1.01") for s in seen):
            assert fee == max(rate * size, minimum)


@settings(max_examples=300, deadline=None)
@given(schedules(), st.floats(min_value=0, max_value=1))
def test_within_a_bounded_factor_of_the_schedule_over_the_sizes_filled(
    schedule: tuple[bool, Decimal, Decimal, list[int]], where: float
) -> None:
    """An order of a size between the smallest and the largest filled is estimated
    at most at what the schedule charges and at least a third of it (a minimum not
    shown yet, on a fill the rate alone would have charged a third of it or more).
    Outside it, a minimum not shown or a rate not shown (every fill charged the
    minimum) cannot be known."""
    per_unit, rate, minimum, quantities = schedule
    low, high = min(quantities), max(quantities)
    qty = D(low + round((high - low) * where))
    estimated = learnt(per_unit, rate, minimum, quantities)
    size = qty if per_unit else qty * PRICE
    charged = max(rate * size, minimum)
    fee = estimated.fee(qty, qty * PRICE)
    assert charged / 3 <= fee <= charged * ROUNDING


@settings(max_examples=150, deadline=None)
@given(schedules(), st.randoms(use_true_random=False))
def test_the_estimate_does_not_depend_on_the_fills_order(
    schedule: tuple[bool, Decimal, Decimal, list[int]], shuffler: random.Random
) -> None:
    per_unit, rate, minimum, quantities = schedule
    shuffled = list(quantities)
    shuffler.shuffle(shuffled)
    assert learnt(per_unit, rate, minimum, shuffled) == learnt(per_unit, rate, minimum, quantities)


def test_a_published_commission_goes_before_what_the_instrument_s_kind_was_charged() -> None:
    """IB's currencies and crypto are both charged a fraction of the trade value: one
    group. A crypto fill at 0.18% was the estimate of a currency pair never filled,
    over IB's published 0.20 bp (at least 2 USD) listed with the pair: 20,000 EUR.USD
    read `fee~38.81`. The pair's own fills, once there, go before the published rate."""
    listed = EUR_USD.model_copy(update={"fee_rate": D("0.00002"), "fee_minimum": D(2)})
    paxos = Instrument(symbol="BTC.USD", venue="PAXOS", quote_currency="USD",
                       tick_size=D("0.25"), lot_size=D("0.0001"))  # fmt: skip
    rates = FeeRates()
    rates.learn(fill(paxos, "0.1", "60000", "10.80", 1), paxos)
    notional = D(21_560)
    assert estimate(rates, listed).fee(D(20_000), notional) == D(2)
    assert estimate(rates, listed).fee(D(20_000_000), D(21_560_000)) == D("431.20")
    # Without a published rate the kind's stands (as before).
    assert estimate(rates, EUR_USD).fee(D(20_000), notional) == D("38.808")
    # The pair's own fills go first: charged 3 USD on 50,000 EUR.
    rates.learn(fill(listed, 50_000, "1.078", "3", 2), listed)
    assert estimate(rates, listed).value == D(3) / D(53_900)
