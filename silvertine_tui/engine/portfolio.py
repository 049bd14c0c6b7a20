"""Positions, P&L and balances, built from the fills and balances on the bus.

Average cost is the **weighted average cost** of the open quantity: buys into a long
(or sells into a short) re-weight the average; trades that reduce the position
realize `(price - average) * closed quantity * multiplier` (sign-adjusted for shorts)
and leave the average unchanged; a trade through zero closes at the old average and
opens the rest at the trade price. Unrealized P&L is marked to the latest quote's mid
(or last).

A venue's correction of a fill (IB's: `FillCorrection`) is booked as if the fill had
traded as corrected: the position is traded again from before the fill it corrects,
through the fills kept since (`PositionState.correct_fill`). The fills are kept since
the position's quantity was last set otherwise (the venue's quantity taken, an asset
fee taken out of it), at least the last `HISTORY`, and go into snapshots with it
(`Snapshot.kept_fills`): a restart books a correction as the live desk did.
A correction of a fill older than that moves realized P&L by the price difference on
the quantity both had (exact when the position was flat since) and leaves the
quantity to the venue's position report; the engine says so.

Fees are booked per currency and never added across currencies. Realized P&L counts a
fee by its value when it was charged: the fee itself when it is in the instrument's
quote currency, else the fill's `fee_value` (a fee in the base asset or in BNB, priced
by the adapter); a fee the adapter could not price is reported apart, not guessed.

On a spot venue (a broker that cannot sell short, or one that says its asset fees come
out of positions: `Capabilities.asset_fees_in_position`, the paper venue with or
without short selling) a position is what the asset balance holds, so a fee charged in
an asset comes out of that asset: a fee in the instrument's base asset reduces its
position (buy 3 ETH with a 0.003 ETH fee: 2.997), a fee in
another asset (BNB) reduces the position of the broker's instrument whose base is that
asset, if it has one. Until a broker's instruments are known (a journal replayed before
the broker connects) such fees wait in `unplaced` and are taken when they load.

A venue whose account lives in the journal (the paper venue) writes it back after Redis
lost it (`PaperBroker.reseed_journal`): a `DATA_LOSS` reconcile with no order, then a
position report per position, flat ones with P&L included, and the balances. The fills
from before are gone from the journal, so a position rebuilt from it takes the re-seed's
report as its standing (`Reseed`): quantity, average price, realized P&L (the venue's,
before fees) and fees; the fills that follow trade from there. A position the desk holds
at that quantity keeps its own figures (the desk that wrote the re-seed: built from the
fills it applied, they are the venue's, to the venue's rounding of the average). A fill
the venue made before its re-seed and journaled after it (a fill Redis lost, journaled
again by the reconcile that follows) is in the standing already: applied to its order
and seen, it does not move the position again.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain import (
    ZERO,
    Balance,
    FeeCorrection,
    Fill,
    FillCorrection,
    Instrument,
    Position,
    Quote,
    Side,
)
from ..domain.money import add_per_currency
from ..domain.seen import SeenIds
from ..events import (
    BalanceEvent,
    EventBase,
    FeeCorrectionEvent,
    FillCorrectionEvent,
    FillEvent,
    PositionEvent,
    QuoteEvent,
    ReconcileEvent,
    ReconcileKind,
)

Key = tuple[str, str, str]  # broker, account, instrument

_BUY = Side.BUY
# Fills kept per position for a correction to trade again (two segments of this many).
HISTORY = 1000
# Fills remembered per instrument at the venue time of its last (`Portfolio.same_time`):
# more in one second than a desk trades in one instrument.
SAME_TIME_KEPT = 10_000
# Exec ids (and fee corrections) remembered as applied, all accounts together: a fill
# or correction journaled again within the newest this many is refused. Snapshots carry
# each account's (`Portfolio.seen_ids`), so a restart refuses the same ones.
SEEN_KEPT = 200_000
# Of those, the newest per account a snapshot carries (`Snapshot.seen_exec_ids`): a
# repeat comes soon after its first (a batch written again, a catch-up); all 200,000
# made a snapshot of 7 MB, 50 ms more on the one loop each time.
SNAPSHOT_SEEN_KEPT = 20_000

# What a position stood at: quantity, average price, realized P&L before fees.
Standing = tuple[Decimal, Decimal | None, Decimal]
# One fill as the position traded it: exec id, signed quantity, price.
Traded = tuple[str, Decimal, Decimal]


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
    # The fills kept for `correct_fill`: the older segment and the recent one, each
    # with what the position stood at before it (None: nothing kept).
    before_older: Standing | None = None
    older: list[Traded] = field(default_factory=list)
    before_recent: Standing | None = None
    recent: list[Traded] = field(default_factory=list)

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
        add_per_currency(self.fees, correction.changes.items(), self.currency)
        currency = correction.fee_currency or self.currency
        if correction.fee_value is not None and currency != self.currency:
            self.fee_values[currency] = self.fee_values.get(currency, ZERO) + correction.fee_value

    def take_fee_quantity(self, amount: Decimal) -> None:
        """A fee paid out of the asset this position holds (spot): fewer units, same
        average cost (the fee's value is in realized P&L already)."""
        self.quantity -= amount
        if self.quantity == 0:
            self.avg_price = None
        self.forget_fills()

    def forget_fills(self) -> None:
        """The quantity was set other than by a fill: the fills kept no longer add up
        to it, and a correction cannot trade them again."""
        self.before_older = self.before_recent = None
        self.older = []
        self.recent = []

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
        quantity = fill.quantity
        signed = quantity if fill.side is _BUY else -quantity
        price = fill.price
        if self.before_recent is None:
            self.before_recent = (self.quantity, self.avg_price, self.realized_gross)
        self.trade(signed, price)
        recent = self.recent
        recent.append((fill.exec_id, signed, price))
        if len(recent) >= HISTORY:
            self.before_older, self.older = self.before_recent, recent
            self.before_recent = (self.quantity, self.avg_price, self.realized_gross)
            self.recent = []
        fee = fill.fee
        if fee:
            currency = fill.fee_currency or self.currency
            fees = self.fees
            fees[currency] = fees.get(currency, ZERO) + fee
            if fill.fee_value is not None and currency != self.currency:
                self.fee_values[currency] = self.fee_values.get(currency, ZERO) + fill.fee_value

    def trade(self, signed: Decimal, price: Decimal) -> None:
        """The quantity, average and realized P&L after trading `signed` at `price`."""
        # Decimals compared with ZERO, not 0: an int is converted on every comparison.
        quantity = abs(signed)
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

    def correct_fill(self, correction: FillCorrection) -> bool:
        """Book a venue's correction of a fill; True when it was booked exactly (the
        fill it corrects is kept: the position is traded again from before it, as
        corrected), False when only its price difference could be (see the module)."""
        fill = correction.fill
        signed = fill.quantity if fill.side is _BUY else -fill.quantity
        exact = self._replace_kept(correction.replaces, (fill.exec_id, signed, fill.price))
        if exact:
            self._trade_again()
        else:
            common = min(fill.quantity, correction.previous_quantity)
            paid_less = (correction.previous_price - fill.price) * common * self.multiplier
            moved = paid_less if fill.side is _BUY else -paid_less
            self.realized_gross += moved
            # The fill came before those kept: trading them again starts from P&L moved.
            if self.before_older is not None:
                self.before_older = _realized_moved(self.before_older, moved)
            if self.before_recent is not None:
                self.before_recent = _realized_moved(self.before_recent, moved)
        self.correct_fees(correction)
        return exact

    def _replace_kept(self, exec_id: str, again: Traded) -> bool:
        """Put `again` in the place of the kept fill `exec_id`; False: not kept."""
        for segment in (self.recent, self.older):
            for at, (kept, _, _) in enumerate(segment):
                if kept == exec_id:
                    segment[at] = again
                    return True
        return False

    def _trade_again(self) -> None:
        if self.older:
            assert self.before_older is not None
            self.quantity, self.avg_price, self.realized_gross = self.before_older
            for _, signed, price in self.older:
                self.trade(signed, price)
            self.before_recent = (self.quantity, self.avg_price, self.realized_gross)
        assert self.before_recent is not None
        self.quantity, self.avg_price, self.realized_gross = self.before_recent
        for _, signed, price in self.recent:
            self.trade(signed, price)

    def correct_fees(self, correction: FillCorrection) -> None:
        add_per_currency(self.fees, correction.fee_changes.items(), self.currency)
        values = (
            (correction.previous_currency, -(correction.previous_fee_value or ZERO)),
            (correction.fill.fee_currency, correction.fill.fee_value or ZERO),
        )
        # Only fees in other currencies have a value apart (see `realized_pnl`).
        other = [(c, v) for c, v in values if v and (c or self.currency) != self.currency]
        add_per_currency(self.fee_values, other, self.currency)


def _realized_moved(standing: Standing, moved: Decimal) -> Standing:
    quantity, avg_price, realized = standing
    return quantity, avg_price, realized + moved


@dataclass(slots=True)
class Reseed:
    """An account's journal re-seeded by its venue (see the module): whether its
    position reports are still the re-seed's (until the account's next fill), and the
    positions that took the re-seed's report as their standing, with the report's time
    (a fill the venue made by then is in the standing)."""

    reporting: bool = True
    taken: dict[str, int] = field(default_factory=dict)


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
        # Brokers whose asset fees come out of positions
        # (`capabilities.asset_fees_in_position`: a spot account, the paper venue).
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
        # The exec ids applied ("broker/account/exec id") and the fee corrections
        # ("fee/broker/account/exec id"), each once.
        self._fills: SeenIds[str] = SeenIds(SEEN_KEPT)
        # (broker, account) -> its newest exec ids applied and fee corrections applied
        # (`seen_ids`): kept as they come, not looked for among all at each snapshot.
        self._recent_ids: dict[tuple[str, str], tuple[deque[str], deque[str]]] = {}
        # Each fill correction applied (broker/account/exec id): booked exactly or not.
        self.booked: dict[str, bool] = {}
        # (broker, account) -> instrument -> the newest fill applied (reconcile asks the
        # venue for fills after it).
        self.last_fills: dict[tuple[str, str], dict[str, Fill]] = {}
        # (broker, account) -> instrument -> the exec ids of the fills applied before
        # the last at its venue time. A venue that stamps coarsely (IB: to the second)
        # reports them again to a reconcile asking from that time; a snapshot carries
        # them so that a desk restarted from it knows them as journaled.
        self.same_time: dict[tuple[str, str], dict[str, list[str]]] = {}
        # (broker, instrument, fee currency) -> `_fee_holder`'s answer, until the
        # instruments change (`set_instruments`).
        self._holders: dict[tuple[str, str, str], str | None] = {}
        # (broker, account) -> its journal's re-seed (`Reseed`), while its position
        # reports are the re-seed's or a position stands on one (empty otherwise: a
        # fill then looks no further).
        self.reseeds: dict[tuple[str, str], Reseed] = {}

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
                    unnamed = state.fees.pop("", None)
                    if unnamed:
                        # A fee with no currency booked before the instrument was known
                        # is in the quote currency (`add_fill` books it so once known):
                        # left under "", realized P&L never took it off.
                        state.fees[state.currency] = state.fees.get(state.currency, ZERO) + unnamed
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
            case FillCorrectionEvent():
                return self.apply_fill_correction(event.payload)
            case QuoteEvent():
                return self.apply_quote(event.payload)
            case BalanceEvent():
                b = event.payload
                self.balances[(b.broker, b.account, b.currency)] = b
                return True
            case PositionEvent():
                p = event.payload
                self.venue_positions[(p.broker, p.account, p.instrument)] = p
                if self.reseeds:
                    self.take_standing(p, event.ts)
                return True
            case ReconcileEvent():
                rec = event.payload
                if rec.kind is ReconcileKind.DATA_LOSS and rec.venue_order is None:
                    # A venue's re-seed begins: its position reports follow.
                    self.reseeds[(event.broker, event.account)] = Reseed()
                    return False
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
        if self._fills.add(f"{broker}/{account}/{exec_id}"):
            self._recent(broker, account)[0].append(exec_id)

    def mark_fee_seen(self, broker: str, account: str, exec_id: str) -> None:
        """A fee correction of `exec_id` as applied: a repeat is refused."""
        if self._fills.add(f"fee/{broker}/{account}/{exec_id}"):
            self._recent(broker, account)[1].append(exec_id)

    def _recent(self, broker: str, account: str) -> tuple[deque[str], deque[str]]:
        recent = self._recent_ids.get((broker, account))
        if recent is None:
            recent = self._recent_ids[(broker, account)] = (
                deque(maxlen=SNAPSHOT_SEEN_KEPT),
                deque(maxlen=SNAPSHOT_SEEN_KEPT),
            )
        return recent

    def seen_ids(self, broker: str, account: str) -> tuple[list[str], list[str]]:
        """The account's newest exec ids applied (fills and fill corrections) and fee
        corrections applied, `SNAPSHOT_SEEN_KEPT` of each, oldest first: what a
        snapshot carries so that a restart refuses a repeat as this portfolio does
        (`mark_fill_seen`, `mark_fee_seen`)."""
        fills, fees = self._recent_ids.get((broker, account), ((), ()))
        return list(fills), list(fees)

    def apply_fill(self, fill: Fill) -> bool:
        broker, account, instrument = fill.broker, fill.account, fill.instrument
        if not self._fills.add(f"{broker}/{account}/{fill.exec_id}"):
            return False
        self._recent(broker, account)[0].append(fill.exec_id)
        if self.reseeds and self._in_standing(fill):
            self.note_last_fill(fill)  # (its order takes it; the position has it)
            return True
        state = self.positions.get((broker, account, instrument))
        if state is None:
            state = self._state(broker, account, instrument)
        state.apply_fill(fill)
        self.note_last_fill(fill)
        if self._pays_asset_fee(fill):
            self._take_asset_fee(broker, account, instrument, fill.fee_currency, fill.fee)
        return True

    def traded(self, broker: str, account: str, instrument: str) -> bool:
        """Whether the journal holds a fill (or an adopted quantity) in `instrument`."""
        if instrument in self.last_fills.get((broker, account), {}):
            return True
        state = self.positions.get((broker, account, instrument))
        return state is not None and (state.quantity != 0 or state.avg_price is not None)

    def take_standing(self, position: Position, ts: int) -> None:
        """A position report of a venue's re-seed (`Reseed.reporting`): the standing of
        a position the desk does not hold at its quantity (none: the journal lost its
        fills; another: fills lost with Redis, journaled again by the reconcile that
        follows, `_in_standing`). One the desk holds at that quantity keeps its own
        figures. The report's realized P&L is the venue's before fees (`fees`)."""
        account = (position.broker, position.account)
        reseed = self.reseeds.get(account)
        if reseed is None or not reseed.reporting:
            return
        key = (position.broker, position.account, position.instrument)
        held = self.positions.get(key)
        if held is not None and held.quantity == position.quantity:
            return
        state = self._state(*key)
        state.quantity = position.quantity
        state.avg_price = position.avg_price if position.quantity else None
        state.realized_gross = position.realized_pnl
        state.fees = dict(position.fees)
        state.fee_values = dict(position.fee_values)
        if not state.currency:
            state.currency = position.currency
        state.forget_fills()
        reseed.taken[position.instrument] = ts

    def _in_standing(self, fill: Fill) -> bool:
        """Whether `fill` is in the standing its position took from a re-seed (the venue
        made it by the re-seed's report). Any fill ends the account's re-seed reports;
        one made after the report ends its position's standing."""
        account = (fill.broker, fill.account)
        reseed = self.reseeds.get(account)
        if reseed is None:
            return False
        reseed.reporting = False
        taken = reseed.taken
        at = taken.get(fill.instrument)
        if at is not None:
            if fill.venue_ts_ns is not None and fill.venue_ts_ns <= at:
                return True
            del taken[fill.instrument]
        if not taken:
            del self.reseeds[account]
        return False

    def apply_fee_correction(self, correction: FeeCorrection) -> bool:
        """A fill's fee reported after the fill (IB's late commission report): the
        position's fees change by the difference, once per execution id."""
        key = f"fee/{correction.broker}/{correction.account}/{correction.exec_id}"
        if not self._fills.add(key):
            return False
        self._recent(correction.broker, correction.account)[1].append(correction.exec_id)
        state = self._state(correction.broker, correction.account, correction.instrument)
        state.correct_fee(correction)
        return True

    def apply_fill_correction(self, correction: FillCorrection) -> bool:
        """A venue's correction of a fill: booked once per correcting exec id, and the
        fill the instrument's last if the one it corrects was (`booked`: how)."""
        fill = correction.fill
        broker, account, instrument = fill.broker, fill.account, fill.instrument
        if not self._fills.add(f"{broker}/{account}/{fill.exec_id}"):
            return False
        self._recent(broker, account)[0].append(fill.exec_id)
        state = self._state(broker, account, instrument)
        self.booked[f"{broker}/{account}/{fill.exec_id}"] = state.correct_fill(correction)
        last = self.last_fills.get((broker, account), {})
        kept = last.get(instrument)
        if kept is not None and kept.exec_id == correction.replaces:
            last[instrument] = fill
        return True

    def booked_exactly(self, correction: FillCorrection) -> bool | None:
        """Whether a correction was booked as if the fill had traded so (False: only
        its price difference was, see the module; None: not booked, its exec id was
        applied before)."""
        fill = correction.fill
        return self.booked.get(f"{fill.broker}/{fill.account}/{fill.exec_id}")

    def note_last_fill(self, fill: Fill) -> None:
        """Keep `fill` as its instrument's last unless the venue stamped it older than
        the one kept (a missed fill published on reconcile after newer ones). The one
        it follows at the same venue time is remembered (`same_time`)."""
        account = (fill.broker, fill.account)
        last = self.last_fills.get(account)
        if last is None:
            last = self.last_fills[account] = {}
        instrument = fill.instrument
        kept = last.get(instrument)
        if (
            kept is None
            or kept.venue_ts_ns is None
            or fill.venue_ts_ns is None
            or fill.venue_ts_ns > kept.venue_ts_ns
        ):
            last[instrument] = fill
            tied = self.same_time.get(account)
            if tied and instrument in tied:
                del tied[instrument]
        elif fill.venue_ts_ns == kept.venue_ts_ns:
            last[instrument] = fill
            self.tie(fill.broker, fill.account, instrument, kept.exec_id)

    def tie(self, broker: str, account: str, instrument: str, exec_id: str) -> None:
        """Remember `exec_id` as a fill at the venue time of its instrument's last."""
        ids = self.same_time.setdefault((broker, account), {}).setdefault(instrument, [])
        ids.append(exec_id)
        if len(ids) > SAME_TIME_KEPT:
            del ids[0]

    def apply_quote(self, quote: Quote) -> bool:
        found = quote.mark
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
        invented; the difference was published as a reconcile event). The average
        stays for what is left of the position (a part sold elsewhere leaves the rest's
        cost as it was). A quantity that grew or went through zero takes the venue's
        average when the venue reported one for that quantity (IB's position carries
        it, the desk's own fills' average: `_venue_cost`); else it has no known cost
        (`-`: the long's average kept for a short made P&L that never happened), and
        the engine says so with the mismatch. A position with no cost left takes the
        venue's too: a known cost is never thrown away while one is reported."""
        state = self._state(broker, account, instrument)
        old = state.quantity
        state.quantity = qty
        if qty == 0:
            state.avg_price = None
        elif (qty > 0) != (old > 0) or abs(qty) > abs(old) or state.avg_price is None:
            state.avg_price = self._venue_cost((broker, account, instrument), qty)
        state.forget_fills()

    def _venue_cost(self, key: Key, qty: Decimal) -> Decimal | None:
        """The average price the venue's last position report gives `qty` of `key`
        (None: no report of that quantity, or one with no average)."""
        venue = self.venue_positions.get(key)
        if venue is None or venue.quantity != qty:
            return None
        if venue.avg_price is None or venue.avg_price <= 0:
            return None
        return venue.avg_price

    def _opening_cost(self, broker: str, account: str, instrument: str) -> None:
        """A position held before this journal, taken as it opens: its average price is
        the venue's, when the venue reported one for that quantity (IB's average cost;
        Binance spot has none), so that it shows an average and unrealized P&L."""
        key = (broker, account, instrument)
        state = self.positions.get(key)
        if state is None or state.quantity == 0:
            return
        cost = self._venue_cost(key, state.quantity)
        if cost is not None:
            state.avg_price = cost
            state.forget_fills()

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
