"""Payloads that exist only as events (the domain models serve the rest)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..domain import (
    Balance,
    Capabilities,
    ConnectionState,
    Fill,
    Instrument,
    Order,
    OrderType,
    Position,
    Side,
    TradingState,
    VenueOrder,
)
from ..domain.money import Dec, PositiveDec, _ExactOnWire

_FROZEN = ConfigDict(frozen=True, extra="forbid", defer_build=True)

MetricValue = (
    Annotated[int, Field(ge=-(2**63), lt=2**63)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | str
    | bool
    | None
)
"""A display figure. JSON's `1e400` decodes to `inf`, whose `int()` in the Health pane
raised in the frame and stopped the app, and a whole number of 401 digits, whose
`float()` did the same: an entry with either is a decode error."""


class CancelRequest(BaseModel):
    model_config = _FROZEN

    client_order_id: str
    reason: str = ""


class ModifyRequest(BaseModel):
    model_config = _FROZEN

    client_order_id: str
    quantity: PositiveDec | None = None
    limit_price: PositiveDec | None = None
    stop_price: PositiveDec | None = None


SIGNAL_PLACES = 18
"""The most decimal places a signal's quantity or price may have (ETH's wei), and the
most whole digits: below 10^18."""

SIGNAL_DIGITS = 2 * SIGNAL_PLACES
"""The most digits a signal's number may be written with (trailing zeros counted)."""

_SIGNAL_BOUND = Decimal(10) ** SIGNAL_PLACES

SignalQty = Annotated[
    Decimal,
    Field(allow_inf_nan=False, gt=0, lt=_SIGNAL_BOUND, decimal_places=SIGNAL_PLACES),
    _ExactOnWire,
]
SignalPrice = Annotated[
    Decimal,
    Field(
        allow_inf_nan=False,
        gt=-_SIGNAL_BOUND,
        lt=_SIGNAL_BOUND,
        decimal_places=SIGNAL_PLACES,
    ),
    _ExactOnWire,
]


SIGNAL_NOTE_KEPT = 1_000
"""The characters of a signal's note a desk keeps. A longer note is cut to them and says
so at its end (`… (note cut: 10,485,760 characters)`, `_cut_note`): the
Signals pane keeps its newest 200 signals whole (`ui.model.SIGNALS_KEPT`), and 20
signals with a note of 10 MB each took a desk from 178 to 405 MB, for good. Cut, a
signal is still a signal (the pane shows 40 characters of a note, its ticket 40 of
it with its strategy); its Log line says the cut (a line keeps 2,000 characters,
`ui.format.LINE_MAX`); the journal keeps it as written (a strategy that builds its
`Signal` here writes it cut already)."""

SIGNAL_NOTE_MAX = 1_048_576
"""The most characters a signal's note may have (1 Mi): a longer one is no note but a
strategy writing its data or a bug, and the entry is refused where it is read, as a
malformed entry is (a counted, logged decode error: Health's `decode err`, a Log line
naming the entry), where a cut note would say it only in its own words."""

SIGNAL_NAME_MAX = 16_384
"""The most characters a signal's strategy or instrument may have: far beyond any real
name, and refused beyond (as `SIGNAL_NOTE_MAX`), never cut: a name is what the desk
keeps signals by and fills a ticket from (cut, two names would read as one). The
Signals pane keeps 200 signals: at most 6.5 M characters of names."""

SignalName = Annotated[str, Field(max_length=SIGNAL_NAME_MAX)]


def _cut_note(note: str) -> str:
    """`note` as a desk keeps it: whole up to `SIGNAL_NOTE_KEPT` characters, else its
    start and what was cut, `SIGNAL_NOTE_KEPT` characters in all: so a note cut once
    (a strategy's own `Signal`, then the desk's decode of it) is kept as it is."""
    if len(note) <= SIGNAL_NOTE_KEPT:
        return note
    said = f"… (note cut: {len(note):,} characters)"
    return f"{note[: SIGNAL_NOTE_KEPT - len(said)]}{said}"


class Signal(BaseModel):
    """A trade idea from an outside strategy; the UI can turn it into a ticket.

    Its quantity and price are bounded (`SIGNAL_PLACES`, `SIGNAL_DIGITS`): an outside
    program writes them, and `1E+1000000` (or `1.000...` with a million zeros) was taken,
    its ticket's Qty a wall of zeros and the desk's checks on it busy while the ticket was
    open. Beyond the bounds the entry is refused where it is read (a counted, logged
    decode error, as any malformed entry). The magnitude and the places are
    pydantic-core's checks (they normalize: trailing zeros are not places); the digits
    as written, trailing zeros and all, are counted by `_written`.

    Its words are bounded too, so that what a desk holds of signals stays bounded
    whatever a strategy writes: its strategy and instrument (`SIGNAL_NAME_MAX`) and its
    note (`SIGNAL_NOTE_MAX`) refused beyond theirs, a note longer than
    `SIGNAL_NOTE_KEPT` kept cut (`_cut_note`): where it is decoded, and where a strategy
    makes it (what it publishes is cut already)."""

    model_config = _FROZEN

    strategy: SignalName
    instrument: SignalName
    side: Side
    quantity: SignalQty | None = None
    order_type: OrderType = OrderType.LIMIT
    price: SignalPrice | None = None
    strength: float | None = Field(default=None, ge=-1, le=1)
    note: Annotated[str, Field(max_length=SIGNAL_NOTE_MAX)] = ""

    @field_validator("quantity", "price")
    @classmethod
    def _written(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and len(value.as_tuple().digits) > SIGNAL_DIGITS:
            raise ValueError(f"a signal's number has at most {SIGNAL_DIGITS} digits")
        return value

    @field_validator("note")
    @classmethod
    def _kept(cls, note: str) -> str:
        return _cut_note(note)


class Health(BaseModel):
    """State and figures of one component (`broker:paper/main`, `bus`, ...).

    Metrics are display figures (latency, ages, counters), hence floats are allowed
    here and nowhere near money.
    """

    model_config = _FROZEN

    component: str
    state: ConnectionState
    message: str = ""
    metrics: dict[str, MetricValue] = Field(default_factory=dict)

    @property
    def broker_account(self) -> tuple[str, str] | None:
        """(broker, account) of a broker's health (`broker:paper/main`), else None."""
        if not self.component.startswith("broker:"):
            return None
        broker, _, account = self.component.removeprefix("broker:").partition("/")
        return broker, account


class ReconcileKind(StrEnum):
    VENUE_ORDER_UNKNOWN = "VENUE_ORDER_UNKNOWN"  # open at the venue, not in our journal
    LOCAL_ORDER_UNKNOWN = "LOCAL_ORDER_UNKNOWN"  # we think open, the venue does not know it
    STATUS_MISMATCH = "STATUS_MISMATCH"
    # Open at both with other terms (moved while the desk was away): the venue's taken.
    TERMS_MISMATCH = "TERMS_MISMATCH"
    POSITION_MISMATCH = "POSITION_MISMATCH"
    # Held at the venue before the journal knew the instrument: taken as it is.
    OPENING_POSITION = "OPENING_POSITION"
    MISSED_FILL = "MISSED_FILL"
    BALANCE_MISMATCH = "BALANCE_MISMATCH"
    DATA_LOSS = "DATA_LOSS"  # the bus lost data (restart without persistence)


class Reconcile(BaseModel):
    """A difference between our journal and the venue, found after a (re)connect.

    `venue_order` carries an order the venue holds that the journal lacks, so the OMS
    can adopt it; `ours`/`venue` are the two sides as text for the trader.
    """

    model_config = _FROZEN

    kind: ReconcileKind
    instrument: str = ""
    client_order_id: str = ""
    ours: str = ""
    venue: str = ""
    detail: str = ""
    venue_order: VenueOrder | None = None
    venue_quantity: Dec | None = None


class RiskAction(StrEnum):
    REJECT = "REJECT"
    STATE = "STATE"
    KILL = "KILL"
    RESUME = "RESUME"


class Risk(BaseModel):
    model_config = _FROZEN

    action: RiskAction
    trading_state: TradingState
    rule: str = ""
    message: str = ""
    client_order_id: str = ""


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Log(BaseModel):
    model_config = _FROZEN

    level: LogLevel = LogLevel.INFO
    message: str
    fields: dict[str, MetricValue] = Field(default_factory=dict)


REPORT_OF = "report_of"
"""A log entry's field when it reports what a desk's cancel all, kill switch or reduce
only did (engine/commands.py `journal_report`): what it reports."""
REPORT_DESK = "desk"
"""Such a report's field: the id of the desk that made it (`engine.desk_id`)."""


class OrderSpan(BaseModel):
    """When and where in the journal an order a snapshot lists lived, which the order's
    state alone does not say: its first event's time (the desk's "today" counts from
    it), its first and last journal entries (its history is read back over that span
    alone), and when it finished (0 while working: the window's age limit)."""

    model_config = _FROZEN

    client_order_id: str
    created_ns: int = 0
    first_entry: str = ""
    last_entry: str = ""
    finished_ns: int = 0


class KeptFills(BaseModel):
    """A position's fills kept for a venue's correction to trade it again
    (`PositionState.correct_fill`): each segment of (exec id, signed quantity, price),
    with the position (quantity, average, realized P&L before fees) before it."""

    model_config = _FROZEN

    instrument: str
    before_older: tuple[Dec, Dec | None, Dec] | None = None
    older: tuple[tuple[str, Dec, Dec], ...] = ()
    before_recent: tuple[Dec, Dec | None, Dec] | None = None
    recent: tuple[tuple[str, Dec, Dec], ...] = ()


class Snapshot(BaseModel):
    """Engine state of one account, covering its journal up to entry `covers`.

    Recovery loads the newest snapshot and replays the journal after `covers`; the
    journal may then be trimmed (by age) up to `covers`.
    """

    model_config = _FROZEN

    broker: str
    account: str
    covers: str
    orders: tuple[Order, ...] = ()
    # One per order in `orders`, by client order id (none in snapshots written before
    # spans were kept: those orders load with no time and the whole journal as span).
    spans: tuple[OrderSpan, ...] = ()
    adopted: tuple[str, ...] = ()
    positions: tuple[Position, ...] = ()
    balances: tuple[Balance, ...] = ()
    # The last fill the journal holds per instrument: reconcile asks the venue for
    # fills after it (a journal trimmed to the snapshot no longer has it).
    last_fills: tuple[Fill, ...] = ()
    # Per instrument, the exec ids of the fills journaled before its last at the same
    # venue time: a venue stamping to the second reports them again to that reconcile,
    # and a restart from here knows them as journaled (`Portfolio.same_time`).
    same_time_fills: dict[str, tuple[str, ...]] = {}
    # When the account's journal began (ns): venue fills before it are history.
    journal_start_ns: int | None = None
    # The ids used before `covers` that `orders` does not list (evicted from memory),
    # so that a restart from here still refuses them (`TradingEngine.id_bound`): those
    # of our format (`minted_ms`) were minted at or before `ids_minted_to_ms`, the others
    # are listed. Engine-wide, not only this account's. None: no bound (nothing
    # evicted, or a snapshot written before the bound existed).
    ids_minted_to_ms: int | None = None
    other_used_ids: tuple[str, ...] = ()
    # The ids of this account's orders evicted last before `covers` (at most
    # `EVICTED_LISTED`), newest last: a late report of one after a restart from here is
    # counted as evicted, as live, not parked for a request that never comes.
    evicted_ids: tuple[str, ...] = ()
    # Each position's fills kept for a correction (none in snapshots written before:
    # a correction of a fill before the snapshot then books its price difference only).
    kept_fills: tuple[KeptFills, ...] = ()
    # The exec ids of this account's fills (and fill corrections) the portfolio
    # remembers as applied, and those whose fee correction it does, oldest first: a
    # fill of an evicted order or of another program's (parked) order, or a fee
    # correction, journaled again after `covers` is refused after a restart from here
    # as it was live. The newest `portfolio.SNAPSHOT_SEEN_KEPT` of those the live
    # portfolio remembers (`portfolio.SEEN_KEPT`, all accounts together). None in
    # snapshots written before: only the ids `orders` hold are known again
    # (`exec_ids`, `fee_corrected`), as before.
    seen_exec_ids: tuple[str, ...] = ()
    seen_fee_ids: tuple[str, ...] = ()
    # The venue's last position report per instrument (`Portfolio.venue_positions`):
    # an opening position reconciled after `covers` takes its average from it.
    venue_positions: tuple[Position, ...] = ()


class BrokerProfile(BaseModel):
    """What a broker is, published by the engine when the broker connects (and on each
    reconnect): its capabilities, which links carry orders, whether it trades real
    money, and its instruments. With it a desk rebuilt from the bus alone knows what
    the ticket offers and checks, without asking the broker object."""

    model_config = _FROZEN

    broker: str
    live: bool = False
    capabilities: Capabilities = Field(default_factory=Capabilities)
    order_links: tuple[str, ...] = ()
    instruments: tuple[Instrument, ...] = ()
