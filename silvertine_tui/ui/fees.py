"""What real venues charged, for the ticket's fee estimate.

A rate is learnt per instrument, from the fill of the largest notional seen, and per
broker for the instruments not filled yet. Not simply the broker's last fill: a venue
with minimum commissions (IB charges 2 USD for an FX fill of 11 units) would make the
next estimate 60% of any order, and the buying power check refuse what the account
covers. The largest fill is the one a minimum weighs least on."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..domain import Fill, Instrument

ANY_INSTRUMENT = ""


@dataclass(slots=True)
class FeeRates:
    # (broker, instrument or ANY_INSTRUMENT) -> (rate, notional of the fill it is from)
    _seen: dict[tuple[str, str], tuple[Decimal, Decimal]] = field(default_factory=dict)

    def learn(self, fill: Fill, instrument: Instrument | None = None) -> None:
        """A fee paid in the instrument's quote currency (IB's AAPL in USD), or one in
        another asset by its value when charged (`fee_value`); an unpriced BNB
        commission says nothing about the rate. The rate is of the notional the ticket
        computes (`Instrument.notional`: a future's multiplier included). Without the
        instrument, a quote currency is one the symbol ends with (ETHUSDT: USDT)."""
        multiplier = instrument.multiplier if instrument is not None else Decimal(1)
        notional = fill.notional * multiplier
        if notional <= 0:
            return
        if instrument is not None:
            in_quote = fill.fee_currency in ("", instrument.quote_currency)
        else:
            in_quote = fill.instrument.rpartition(".")[0].endswith(fill.fee_currency)
        if fill.fee_value is not None and fill.fee_value > 0:
            rate = fill.fee_value / notional
        elif fill.fee > 0 and in_quote:
            rate = fill.fee / notional
        else:
            return
        for key in ((fill.broker, fill.instrument), (fill.broker, ANY_INSTRUMENT)):
            seen = self._seen.get(key)
            if seen is None or notional >= seen[1]:
                self._seen[key] = (rate, notional)

    def rate(self, broker: str, instrument: str) -> Decimal | None:
        """The instrument's rate, else the broker's, else None (nothing filled yet)."""
        seen = self._seen.get((broker, instrument)) or self._seen.get((broker, ANY_INSTRUMENT))
        return seen[0] if seen is not None else None
