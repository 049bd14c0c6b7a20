"""What real venues charged, for the ticket's fee estimate.

A venue charges an instrument's commission one of two ways, and the instrument says
which (`Instrument.fee_per_unit`, set by the adapter that lists it): a fraction of
the notional (Binance, the paper venue, IB's currencies and crypto), or an amount per
unit traded (IB's shares and contracts: one ES contract costs about 2.25 USD whether
it is worth 300,000 USD or 150,000). The estimate follows suit: the rate of the
reference fill times the order's notional, or the fee per unit of the reference fill
times the order's quantity. A per-unit fee taken as a rate of the notional made one
ES contract's estimate 202.89 USD.

The reference fill is the largest seen: by notional for a rate, by quantity for a fee
per unit. Not simply the broker's last fill: a venue with minimum commissions (IB
charges 2 USD for an FX fill of 11 units, 1 USD for one share) would make the next
estimate 60% of any order, and the buying power check refuse what the account
covers. The largest fill is the one a minimum weighs least on.

Learnt per instrument and, for the instruments not filled yet, per broker and kind of
instrument charged the same way (IB's stocks from its stocks, its futures from its
futures: a share's 0.005 USD says nothing of a contract's fee, nor a future's tiny
rate of its notional anything of a share's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from ..domain import Fill, Instrument, InstrumentKind


@dataclass(frozen=True, slots=True)
class FeeRate:
    """How the ticket estimates an order's fee: `value` is a fraction of the notional,
    or (`per_unit`) an amount of the quote currency per unit traded (a share, a
    contract)."""

    value: Decimal
    per_unit: bool = False

    def fee(self, quantity: Decimal, notional: Decimal) -> Decimal:
        """The fee of an order of `quantity` units worth `notional`."""
        return quantity * self.value if self.per_unit else notional * self.value


# (broker, kind of instrument, charged per unit): the group an instrument not filled
# yet takes its estimate from.
Group = tuple[str, InstrumentKind, bool]


@dataclass(slots=True)
class FeeRates:
    # (broker, instrument key) -> (rate, size of the fill it is from: its notional for
    # a rate, its quantity for a fee per unit)
    _by_instrument: dict[tuple[str, str], tuple[FeeRate, Decimal]] = field(default_factory=dict)
    _by_group: dict[Group, tuple[FeeRate, Decimal]] = field(default_factory=dict)

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
        if instrument is not None and instrument.fee_per_unit:
            seen = (FeeRate(fee / fill.quantity, per_unit=True), fill.quantity)
        else:
            seen = (FeeRate(fee / notional), notional)
        group = _group(fill.broker, instrument)
        _keep(self._by_instrument, (fill.broker, fill.instrument), seen)
        _keep(self._by_group, group, seen)

    def rate(
        self, broker: str, instrument: str, listed: Instrument | None = None
    ) -> FeeRate | None:
        """The instrument's rate, else that of the broker's instruments of its kind
        charged the same way (`listed`, the instrument as the broker lists it; None:
        not known, taken as charged a fraction of the notional), else None (nothing
        filled yet). A rate learnt before the instrument was known, charged another
        way than it is, is passed over."""
        per_unit = listed is not None and listed.fee_per_unit
        for seen in (
            self._by_instrument.get((broker, instrument)),
            self._by_group.get(_group(broker, listed)),
        ):
            if seen is not None and seen[0].per_unit == per_unit:
                return seen[0]
        return None


def _group(broker: str, instrument: Instrument | None) -> Group:
    if instrument is None:
        return (broker, InstrumentKind.SPOT, False)
    return (broker, instrument.kind, instrument.fee_per_unit)


K = TypeVar("K")


def _keep(seen: dict[K, tuple[FeeRate, Decimal]], key: K, new: tuple[FeeRate, Decimal]) -> None:
    """Keep the rate of the larger fill (one charged another way gives way: the
    instrument's listing says how it is charged now)."""
    old = seen.get(key)
    if old is None or old[0].per_unit != new[0].per_unit or new[1] >= old[1]:
        seen[key] = new
