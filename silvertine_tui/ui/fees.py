"""What real venues charged, for the ticket's fee estimate.

A venue charges an instrument's commission one of two ways, and the instrument says
which (`Instrument.fee_per_unit`, set by the adapter that lists it): a fraction of
the notional (Binance, the paper venue, IB's currencies and crypto), or an amount per
unit traded (IB's shares and contracts: one ES contract costs about 2.25 USD whether
it is worth 300,000 USD or 150,000). The estimate follows suit: a rate times the
order's notional, or a fee per unit times its quantity. A per-unit fee taken as a
rate of the notional made one ES contract's estimate 202.89 USD. The fills' "size"
below is their notional (a rate) or their quantity (a fee per unit).

Venues also charge a minimum (IB: 2 USD an FX order, 1 USD a stock order). A fill
charged the minimum says nothing of the rate: taken as one, small EUR.USD fills at 2
USD each made a 21,423 USD ticket's fee 1,379.83 (6.4%), and the funds check, which
counts the fee, refused what the account covered. So a fill charged the minimum is
told from one charged the rate, and the estimate is `max(rate x size, minimum)`:

- The minimum shows as one fee charged on fills of different sizes (2 USD on 4 and on
  29 EUR; 1 USD on 6 and on 8 shares: sizes at least `FLAT_SPREAD` apart), or as a
  fill charged more than `ABOVE_RATE` times the rate of the largest fill (1 USD for 1
  share when 1,000 cost 5). The smallest such fee is the minimum.
- The rate is that of the largest fill not charged the minimum: the one a minimum
  weighs least on. When every fill was charged the minimum, how the fee grows past it
  is not known yet: the estimate is the minimum (the fee of any order up to the
  largest filled is known to be that much), until an order is charged more.
- With no minimum to see (no two fills of different sizes charged alike, none far
  above the rate) the rate is that of the largest fill; a single fill cannot tell a
  minimum from a rate (6 shares at 1 USD: 8 read 1.33 until 8 were charged 1 too).

What is kept of the fills is bounded (`_Fills`: the smallest and the largest by size,
the smallest fees) and does not depend on their order.

Learnt per instrument and, for the instruments not filled yet, per broker and kind of
instrument charged the same way (IB's stocks from its stocks, its futures from its
futures: a share's 0.005 USD says nothing of a contract's fee, nor a future's tiny
rate of its notional anything of a share's)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from ..domain import Fill, Instrument, InstrumentKind

ZERO = Decimal(0)
# Fills of sizes this far apart charged one fee: a minimum (a rate would differ by as
# much).
FLAT_SPREAD = Decimal("1.1")
# A fill charged more than this many times the rate of the largest fill (by its size)
# was charged a minimum: a venue's maker and taker rates differ by less.
ABOVE_RATE = Decimal(3)
# A fee this close to the minimum is charged the minimum (not evidence of a rate).
AT_MINIMUM = Decimal("1.001")
# Fills kept per instrument and group: the KEPT // 2 smallest and as many largest.
KEPT = 64


@dataclass(frozen=True, slots=True)
class FeeRate:
    """How the ticket estimates an order's fee: `value` is a fraction of the notional,
    or (`per_unit`) an amount of the quote currency per unit traded (a share, a
    contract); `minimum`, the least the venue was seen to charge an order (0: none
    seen)."""

    value: Decimal
    per_unit: bool = False
    minimum: Decimal = ZERO

    def by_rate(self, quantity: Decimal, notional: Decimal) -> Decimal:
        return quantity * self.value if self.per_unit else notional * self.value

    def fee(self, quantity: Decimal, notional: Decimal) -> Decimal:
        """The fee of an order of `quantity` units worth `notional`: the rate's, or the
        minimum when that is more."""
        return max(self.by_rate(quantity, notional), self.minimum)

    def at_minimum(self, quantity: Decimal, notional: Decimal) -> bool:
        """Whether the estimate of this order is the minimum, not the rate's (for the
        preview to say so)."""
        return self.minimum > 0 and self.by_rate(quantity, notional) < self.minimum


# (broker, kind of instrument, charged per unit): the group an instrument not filled
# yet takes its estimate from.
Group = tuple[str, InstrumentKind, bool]


@dataclass(slots=True)
class _Fills:
    """What an estimate is learnt from, bounded and whatever the fills' order: the
    distinct (size, fee) of the `KEPT // 2` smallest fills by size and as many of the
    largest (the smallest show a minimum, the largest the rate), and for the `KEPT`
    smallest fees (a minimum is the least a venue charges) the sizes charged it."""

    per_unit: bool
    by_size: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    # fee to 4 significant digits -> (smallest size, largest size, least fee)
    by_fee: dict[Decimal, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)
    _estimate: FeeRate | None = None

    def add(self, size: Decimal, fee: Decimal) -> None:
        self._estimate = None
        at = bisect.bisect_left(self.by_size, (size, fee))
        if at == len(self.by_size) or self.by_size[at] != (size, fee):
            self.by_size.insert(at, (size, fee))
            if len(self.by_size) > KEPT:
                del self.by_size[KEPT // 2]
        key = Decimal(format(fee, ".4g"))
        low, high, least = self.by_fee.get(key, (size, size, fee))
        self.by_fee[key] = (min(low, size), max(high, size), min(least, fee))
        if len(self.by_fee) > KEPT:
            del self.by_fee[max(self.by_fee)]

    def estimate(self) -> FeeRate:
        if self._estimate is None:
            self._estimate = self._learnt()
        return self._estimate

    def _learnt(self) -> FeeRate:
        """The estimate (module docstring)."""
        largest_size, largest_fee = self.by_size[-1]
        largest_rate = largest_fee / largest_size
        minimum: Decimal | None = None
        for size, fee in self.by_size:
            if fee > ABOVE_RATE * largest_rate * size:
                minimum = fee if minimum is None else min(minimum, fee)
        for low, high, least in self.by_fee.values():
            if high >= FLAT_SPREAD * low:
                minimum = least if minimum is None else min(minimum, least)
        if minimum is None:
            return FeeRate(largest_rate, self.per_unit)
        # The largest fill charged other than the minimum.
        for size, fee in reversed(self.by_size):
            if fee > minimum * AT_MINIMUM or fee * AT_MINIMUM < minimum:
                return FeeRate(fee / size, self.per_unit, minimum)
        return FeeRate(ZERO, self.per_unit, minimum)


@dataclass(slots=True)
class FeeRates:
    _by_instrument: dict[tuple[str, str], _Fills] = field(default_factory=dict)
    _by_group: dict[Group, _Fills] = field(default_factory=dict)

    def learn(self, fill: Fill, instrument: Instrument | None = None) -> None:
        """A fee paid in the instrument's quote currency (IB's AAPL in USD), or one in
        another asset by its value when charged (`fee_value`); an unpriced BNB
        commission says nothing about the rate. A rate is of the notional the ticket
        computes (`Instrument.notional`: a future's multiplier included). Without the
        instrument, a quote currency is one the symbol ends with (ETHUSDT: USDT), and
        the fee is taken as a rate."""
        multiplier = instrument.multiplier if instrument is not None else Decimal(1)
        notional = fill.notional * multiplier
        if notional <= 0:
            return
        if instrument is not None:
            in_quote = fill.fee_currency in ("", instrument.quote_currency)
        else:
            in_quote = fill.instrument.rpartition(".")[0].endswith(fill.fee_currency)
        if fill.fee_value is not None and fill.fee_value > 0:
            fee = fill.fee_value
        elif fill.fee > 0 and in_quote:
            fee = fill.fee
        else:
            return
        per_unit = instrument is not None and instrument.fee_per_unit
        size = fill.quantity if per_unit else notional
        _add(self._by_instrument, (fill.broker, fill.instrument), per_unit, size, fee)
        _add(self._by_group, _group(fill.broker, instrument), per_unit, size, fee)

    def rate(
        self, broker: str, instrument: str, listed: Instrument | None = None
    ) -> FeeRate | None:
        """The instrument's estimate, else the venue's published commission of it
        (`Instrument.fee_rate`, `fee_minimum`), else that of the broker's instruments
        of its kind charged the same way (`listed`, the instrument as the broker lists
        it; None: not known, taken as charged a fraction of the notional), else None
        (nothing filled yet). Fills learnt before the instrument was known, charged
        another way than it is, are passed over. The published commission goes before
        the kind's: IB's currencies share theirs with its crypto (both a fraction of
        the trade value), and one crypto fill at 0.18% made 20,000 EUR.USD read
        `fee~38.81` where IB charges 2.00."""
        per_unit = listed is not None and listed.fee_per_unit
        own = self._by_instrument.get((broker, instrument))
        if own is not None and own.per_unit == per_unit:
            return own.estimate()
        if listed is not None and listed.fee_rate is not None:
            return FeeRate(listed.fee_rate, per_unit=per_unit, minimum=listed.fee_minimum)
        kind = self._by_group.get(_group(broker, listed))
        if kind is not None and kind.per_unit == per_unit:
            return kind.estimate()
        return None


def _group(broker: str, instrument: Instrument | None) -> Group:
    if instrument is None:
        return (broker, InstrumentKind.SPOT, False)
    return (broker, instrument.kind, instrument.fee_per_unit)


K = TypeVar("K")


def _add(seen: dict[K, _Fills], key: K, per_unit: bool, size: Decimal, fee: Decimal) -> None:
    """Add a fill (fills charged another way give way: the instrument's listing says
    how it is charged now)."""
    fills = seen.get(key)
    if fills is None or fills.per_unit != per_unit:
        fills = seen[key] = _Fills(per_unit)
    fills.add(size, fee)
