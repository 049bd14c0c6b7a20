"""Positions, P&L and balances, built from the fills and balances on the bus.

Average cost is the **weighted average cost** of the open quantity: buys into a long
(or sells into a short) re-weight the average; trades that reduce the position
realize `(price - average) * closed quantity * multiplier` (sign-adjusted for shorts)
and leave the average unchanged; a trade through zero closes at the old average and
opens the rest at the trade price. Unrealized P&L is marked to the latest quote's mid
(or last).

Fees are booked per currency and never added across currencies. Realized P&L counts a
fee by its value when it was charged: the fee itself when it is in the instrument's
quote currency, else the fill's `fee_value` (a fee in the base asset or in BNB, priced
by the adapter); a fee the adapter could not price is reported apart, not guessed.

On a spot venue (a broker that cannot sell short) a position is what the asset balance
holds, so a fee charged in an asset comes out of that asset: a fee in the instrument's
base asset reduces its position (buy 3 ETH with a 0.003 ETH fee: 2.997), a fee in
another asset (BNB) reduces the position of the broker's instrument whose base is that
asset, if it has one. Until a broker's instruments are known (a journal replayed before
the broker connects) such fees wait in `unplaced` and are taken when they load.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain import ZERO, Balance, FeeCorrection, Fill, Instrument, Position, Quote, Side
from ..events import (
    BalanceEvent,
    EventBase,
    FeeCorrectionEvent,
    FillEvent,
    PositionEvent,
    QuoteEvent,
    ReconcileEvent,
    ReconcileKind,
)
from .dedupe import SeenIds

Key = tuple[str, str, str]  # broker, account, instrument

_BUY = Side.BUY


def quote_mark(quote: Quote) -> tuple[Decimal, str] | None:
    """The price a quote marks its instrument at and its basis: the mid, else the last
    trade; None when it has neither (it then changes no mark)."""
    mid = quote.mid
    if mid is not None:
        return mid, "mid"
    if quote.last is not None:
        return quote.last, "last trade"
    return None


@dataclass(slots=True)
class PositionState:
    broker: str
    account: str
    instrument: str
    currency: str = ""
    quantity: Decimal = ZERO
    avg_price: Decimal | None = None
    realized_gross: Decimal = ZERO
    fees: dict[str, Decimal] = field(default_factory=dict)
    # What the fees charged in each other currency were worth in the quote currency
    # when charged (`Fill.fee_value`).
    fee_values: dict[str, Decimal] = field(default_factory=dict)
    multiplier: Decimal = Decimal(1)

    @property
    def realized_pnl(self) -> Decimal:
        """Realized P&L net of fees: those paid in the instrument's quote currency, and
        the value of those paid in other currencies.

        Computed, not accumulated: the quote currency may only be known once the
        broker's instruments are loaded, after the journal was replayed.
        """
        if not self.currency:
            return self.realized_gross
        valued = sum((v for ccy, v in self.fee_values.items() if ccy != self.currency), ZERO)
        return self.realized_gross - self.fees.get(self.currency, ZERO) - valued

    def correct_fee(self, correction: FeeCorrection) -> None:
        for currency, amount in correction.changes.items():
            currency = currency or self.currency
            total = self.fees.get(currency, ZERO) + amount
            if total:
                self.fees[currency] = total
            else:
                self.fees.pop(currency, None)
        currency = correction.fee_currency or self.currency
        if correction.fee_value is not None and currency != self.currency:
            self.fee_values[currency] = self.fee_values.get(currency, ZERO) + correction.fee_value

    def take_fee_quantity(self, amount: Decimal) -> None:
        """A fee paid out of the asset this position holds (spot): fewer units, same
        average cost (the fee's value is in realized P&L already)."""
        self.quantity -= amount
        if self.quantity == 0:
            self.avg_price = None

    def unrealized(self, mark: Decimal | None) -> Decimal | None:
        if mark is None or self.avg_price is None or self.quantity == 0:
            return ZERO if self.quantity == 0 else None
        return (mark - self.avg_price) * self.quantity * self.multiplier

    def as_position(self) -> Position:
        return Position(
            broker=self.broker,
            account=self.account,
            instrument=self.instrument,
            quantity=self.quantity,
            avg_price=self.avg_price,
            realized_pnl=self.realized_pnl,
            currency=self.currency,
            fees=dict(self.fees),
            fee_values=dict(self.fee_values),
        )

    def apply_fill(self, fill: Fill) -> None:
        # Decimals compared with ZERO, not 0: an int is converted on every comparison.
        quantity = fill.quantity
        signed = quantity if fill.side is _BUY else -quantity
        price = fill.price
        old = self.quantity
        if old != ZERO and self.avg_price is None:
            # A quantity taken from the venue (an opening position) has no known cost:
            # adding to it or closing it cannot be valued, so the average stays unknown
            # and nothing is realized until it is flat (or through zero) again.
            self.quantity = old + signed
            if self.quantity != 0 and (self.quantity > 0) != (old > 0):
                self.avg_price = price
        elif old == ZERO or (old > ZERO) == (signed > ZERO):
            cost = (self.avg_price or ZERO) * abs(old) + price * quantity
            new = self.quantity = old + signed
            self.avg_price = cost / abs(new)
        else:
            closing = min(quantity, abs(old))
            direction = 1 if old > ZERO else -1
            avg = self.avg_price
            assert avg is not None  # old != 0 with an unknown cost is handled above
            self.realized_gross += (price - avg) * closing * direction * self.multiplier
            new = self.quantity = old + signed
            if new == ZERO:
                self.avg_price = None
            elif (new > ZERO) != (old > ZERO):
                self.avg_price = price  # went through zero: the rest opens at this price
        fee = fill.fee
        if fee:
            currency = fill.fee_currency or self.currency
            fees = self.fees
            fees[currency] = fees.get(currency, ZERO) + fee
            if fill.fee_value is not None and currency != self.currency:
                self.fee_values[currency] = self.fee_values.get(currency, ZERO) + fill.fee_value


@dataclass(frozen=True, slots=True)
class Totals:
    """P&L summed per currency (amounts in different currencies are never added)."""

    realized: dict[str, Decimal]
    unrealized: dict[str, Decimal]
    fees: dict[str, Decimal]


class Portfolio:
    def __init__(
        self,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        spot_brokers: Iterable[str] = (),
    ) -> None:
        self.positions: dict[Key, PositionState] = {}
        # Brokers whose positions are asset balances (`capabilities.short_selling` off).
        self.spot_brokers: set[str] = set(spot_brokers)
        # broker -> its instrument keys, once loaded (`set_instruments(..., broker=)`).
        self.broker_instruments: dict[str, set[str]] = {}
        # Asset fees of a spot broker seen before its instruments were known:
        # (broker, account) -> fill instrument -> currency -> amount.
        self.unplaced: dict[tuple[str, str], dict[str, dict[str, Decimal]]] = {}
        self.venue_positions: dict[Key, Position] = {}
        self.balances: dict[tuple[str, str, str], Balance] = {}
        self.marks: dict[str, Decimal] = {}
        self.mark_basis: dict[str, str] = {}  # instrument -> "mid" or "last trade"
        self.instruments: dict[str, Instrument] = dict(instruments or {})
        self._fills = SeenIds()
        # (broker, account) -> instrument -> the newest fill applied (reconcile asks the
        # venue for fills after it).
        self.last_fills: dict[tuple[str, str], dict[str, Fill]] = {}
        # (broker, instrument, fee currency) -> `_fee_holder`'s answer, until the
        # instruments change (`set_instruments`).
        self._holders: dict[tuple[str, str, str], str | None] = {}

    def set_instruments(self, instruments: Iterable[Instrument], broker: str = "") -> None:
        """Learn instruments (`broker`: all of that broker's, which places the asset
        fees that waited for them)."""
        instruments = list(instruments)
        self._holders.clear()
        for inst in instruments:
            self.instruments[inst.key] = inst
            for state in self.positions.values():
                if state.instrument == inst.key:
                    state.currency = inst.quote_currency
                    state.multiplier = inst.multiplier
        if not broker:
            return
        self.broker_instruments[broker] = {inst.key for inst in instruments}
        for (name, account), waiting in list(self.unplaced.items()):
            if name != broker:
                continue
            del self.unplaced[(name, account)]
            for instrument, fees in waiting.items():
                for currency, amount in fees.items():
                    self._take_asset_fee(name, account, instrument, currency, amount)

    def fee_position(self, fill: Fill) -> Key | None:
        """The position an asset fee of `fill` came out of, other than the fill's own
        perhaps (a spot broker's fee in BNB out of the BNB position), or None: no fee in
        an asset, no position holds it (the quote currency), or the broker's instruments
        are not known yet (the fee waits in `unplaced`; loading them redraws every
        position). Asked after the fill was applied, for the desk's change set."""
        broker = fill.broker
        if not self._pays_asset_fee(fill) or broker not in self.broker_instruments:
            return None
        holder = self._fee_holder(broker, fill.instrument, fill.fee_currency)
        return None if holder is None else (broker, fill.account, holder)

    def _pays_asset_fee(self, fill: Fill) -> bool:
        """Whether `fill`'s fee comes out of an asset's position: a spot broker's fee
        in a named currency (`_take_asset_fee` finds which position, if any)."""
        return bool(fill.fee and fill.fee_currency and fill.broker in self.spot_brokers)

    def _fee_holder(self, broker: str, instrument: str, currency: str) -> str | None:
        """The broker's instrument whose position holds the asset `currency`: the
        traded instrument when it is its base, else the broker's instrument with that
        base (None: no position holds it, e.g. the quote currency)."""
        asked = (broker, instrument, currency)
        if asked in self._holders:
            return self._holders[asked]
        holder = self._holders[asked] = self._find_fee_holder(broker, instrument, currency)
        return holder

    def _find_fee_holder(self, broker: str, instrument: str, currency: str) -> str | None:
        inst = self.instruments.get(instrument)
        if inst is not None and currency == inst.quote_currency:
            return None
        if inst is not None and currency == inst.base_currency:
            return instrument
        for key in sorted(self.broker_instruments.get(broker, ())):
            other = self.instruments.get(key)
            if other is not None and other.base_currency == currency:
                return key
        return None

    def _take_asset_fee(
        self, broker: str, account: str, instrument: str, currency: str, amount: Decimal
    ) -> None:
        if broker not in self.broker_instruments:
            waiting = self.unplaced.setdefault((broker, account), {})
            fees = waiting.setdefault(instrument, {})
            fees[currency] = fees.get(currency, ZERO) + amount
            return
        holder = self._fee_holder(broker, instrument, currency)
        if holder is not None:
            self._state(broker, account, holder).take_fee_quantity(amount)

    def _state(self, broker: str, account: str, instrument: str) -> PositionState:
        key = (broker, account, instrument)
        state = self.positions.get(key)
        if state is None:
            inst = self.instruments.get(instrument)
            state = PositionState(
                broker,
                account,
                instrument,
                currency=inst.quote_currency if inst else "",
                multiplier=inst.multiplier if inst else Decimal(1),
            )
            self.positions[key] = state
        return state

    # -- events -----------------------------------------------------------------------

    def apply(self, event: EventBase) -> bool:
        """Apply a fill, quote, position or balance event. True if it changed anything."""
        match event:
            case FillEvent():
                return self.apply_fill(event.payload)
            case FeeCorrectionEvent():
                return self.apply_fee_correction(event.payload)
            case QuoteEvent():
                return self.apply_quote(event.payload)
            case BalanceEvent():
                b = event.payload
                self.balances[(b.broker, b.account, b.currency)] = b
                return True
            case PositionEvent():
                p = event.payload
                self.venue_positions[(p.broker, p.account, p.instrument)] = p
                return True
            case ReconcileEvent():
                rec = event.payload
                if (
                    rec.kind in (ReconcileKind.POSITION_MISMATCH, ReconcileKind.OPENING_POSITION)
                    and rec.venue_quantity is not None
                ):
                    self.adopt_venue_quantity(
                        event.broker, event.account, rec.instrument, rec.venue_quantity
                    )
                    if rec.kind is ReconcileKind.OPENING_POSITION:
                        self._opening_cost(event.broker, event.account, rec.instrument)
                    return True
        return False

    def fill_seen(self, broker: str, account: str, exec_id: str) -> bool:
        return f"{broker}/{account}/{exec_id}" in self._fills

    def mark_fill_seen(self, broker: str, account: str, exec_id: str) -> None:
        self._fills.add(f"{broker}/{account}/{exec_id}")

    def apply_fill(self, fill: Fill) -> bool:
        broker, account, instrument = fill.broker, fill.account, fill.instrument
        if not self._fills.add(f"{broker}/{account}/{fill.exec_id}"):
            return False
        state = self.positions.get((broker, account, instrument))
        if state is None:
            state = self._state(broker, account, instrument)
        state.apply_fill(fill)
        # `note_last_fill`, on the path every fill takes.
        last = self.last_fills.get((broker, account))
        if last is None:
            last = self.last_fills[(broker, account)] = {}
        kept = last.get(instrument)
        if (
            kept is None
            or kept.venue_ts_ns is None
            or fill.venue_ts_ns is None
            or fill.venue_ts_ns >= kept.venue_ts_ns
        ):
            last[instrument] = fill
        if self._pays_asset_fee(fill):
            self._take_asset_fee(broker, account, instrument, fill.fee_currency, fill.fee)
        return True

    def traded(self, broker: str, account: str, instrument: str) -> bool:
        """Whether the journal holds a fill (or an adopted quantity) in `instrument`."""
        if instrument in self.last_fills.get((broker, account), {}):
            return True
        state = self.positions.get((broker, account, instrument))
        return state is not None and (state.quantity != 0 or state.avg_price is not None)

    def apply_fee_correction(self, correction: FeeCorrection) -> bool:
        """A fill's fee reported after the fill (IB's late commission report): the
        position's fees change by the difference, once per execution id."""
        key = f"fee/{correction.broker}/{correction.account}/{correction.exec_id}"
        if not self._fills.add(key):
            return False
        state = self._state(correction.broker, correction.account, correction.instrument)
        state.correct_fee(correction)
        return True

    def note_last_fill(self, fill: Fill) -> None:
        """Keep `fill` as its instrument's last unless the venue stamped it older than
        the one kept (a missed fill published on reconcile after newer ones)."""
        last = self.last_fills.setdefault((fill.broker, fill.account), {})
        kept = last.get(fill.instrument)
        if (
            kept is None
            or kept.venue_ts_ns is None
            or fill.venue_ts_ns is None
            or fill.venue_ts_ns >= kept.venue_ts_ns
        ):
            last[fill.instrument] = fill

    def apply_quote(self, quote: Quote) -> bool:
        found = quote_mark(quote)
        if found is None:
            return False
        mark, self.mark_basis[quote.instrument] = found
        if self.marks.get(quote.instrument) == mark:
            return False
        self.marks[quote.instrument] = mark
        return True

    def adopt_venue_quantity(
        self, broker: str, account: str, instrument: str, qty: Decimal
    ) -> None:
        """After a reconcile found a mismatch: take the venue's quantity (no fill is
        invented; the difference was published as a reconcile event)."""
        state = self._state(broker, account, instrument)
        state.quantity = qty
        if qty == 0:
            state.avg_price = None

    def _opening_cost(self, broker: str, account: str, instrument: str) -> None:
        """A position held before this journal, taken as it opens: its average price is
        the venue's, when the venue reported one for that quantity (IB's average cost;
        Binance spot has none), so that it shows an average and unrealized P&L."""
        key = (broker, account, instrument)
        venue = self.venue_positions.get(key)
        state = self.positions.get(key)
        if (
            venue is not None
            and state is not None
            and venue.avg_price is not None
            and venue.avg_price > 0
            and venue.quantity == state.quantity != 0
        ):
            state.avg_price = venue.avg_price

    # -- queries ------------------------------------------------------------------------

    def position(self, broker: str, account: str, instrument: str) -> Decimal:
        state = self.positions.get((broker, account, instrument))
        return state.quantity if state else ZERO

    def mark(self, instrument: str) -> Decimal | None:
        return self.marks.get(instrument)

    def unrealized(self, state: PositionState) -> Decimal | None:
        return state.unrealized(self.marks.get(state.instrument))

    def totals(self, broker: str | None = None) -> Totals:
        realized: dict[str, Decimal] = defaultdict(lambda: ZERO)
        unrealized: dict[str, Decimal] = defaultdict(lambda: ZERO)
        fees: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for state in self.positions.values():
            if broker is not None and state.broker != broker:
                continue
            realized[state.currency] += state.realized_pnl
            upl = self.unrealized(state)
            if upl is not None:
                unrealized[state.currency] += upl
            for ccy, fee in state.fees.items():
                fees[ccy] += fee
        return Totals(dict(realized), dict(unrealized), dict(fees))
