"""What every pane needs from the outside world, in one object handed down."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from ..config import PaperBrokerConfig, UIConfig
from ..domain import new_client_order_id
from ..engine import Session
from ..engine.commands import (
    Accepted,
    CancelAllDone,
    CancelOrder,
    Command,
    CommandGateway,
    Kill,
    KillDone,
    ModifyOrder,
    Outcome,
    PlaceOrder,
)
from ..engine.order_history import order_from_events, read_order_history
from ..engine.projection import DeskProjection, OrderView, journal_problem
from ..engine.risk import RiskGate
from ..events import EventBase
from ..events.summary import change_parts
from .bus_watch import BusWatch
from .cancels_sent import CancelsSent, ModifiesSent
from .fees import FeeRate
from .format import short_id
from .model import FeedModel, Notice
from .orders import DEFAULT_FEE_RATE, TicketContext

Clock = Callable[[], float]
HistoryLoader = Callable[[Callable[[int, int], None]], Awaitable[list[EventBase]]]
"""Reads an order's events back from the journal, reporting (entries read, of total)."""


@dataclass(slots=True)
class Desk:
    session: Session
    model: FeedModel
    clock: Clock = time.time
    """Wall clock in seconds (header, ages); injected in tests."""
    monotonic: Clock = time.monotonic
    """For debouncing keys."""
    new_order_id: Callable[[], str] = new_client_order_id
    fire_debounce_s: float = 0.5
    stale_after_s: float = 5.0
    toast_timeout_s: float = 6.0
    slow_command_s: float = 2.0
    """A kill switch, cancel all or reduce only still waiting on the venues this long
    says so, and how many orders are still working (its report follows)."""
    cursor_blink: bool = True
    accounts: list[str] = field(default_factory=list)
    gateway: CommandGateway | None = None
    """Where every action goes (`send`); the engine in process unless one is given."""
    projection: DeskProjection | None = None
    """What every pane reads: the session's (the engine's, shared) unless one is given
    (a desk rebuilt from a journal alone)."""
    bus_watch: BusWatch = field(default_factory=BusWatch)
    """Whether this desk has lost the bus (the header and a toast say so)."""
    cancels_sent: CancelsSent = field(default_factory=CancelsSent)
    """The orders this desk cancelled whose cancel the journal has not shown yet."""
    modifies_sent: ModifiesSent = field(default_factory=ModifiesSent)
    """The orders this desk changed whose change the journal has not shown yet."""
    ticket_context: TicketContext = field(init=False)

    def __post_init__(self) -> None:
        if not self.accounts:
            self.accounts = [f"{b}/{a}" for b, a in self.session.accounts()]
        if self.gateway is None:
            self.gateway = self.session.command_gateway()
        if self.projection is None:
            self.projection = self.session.projection
        session = self.session
        self.ticket_context = TicketContext(
            self.projection,
            # The ticket's own copy of the rules, for the preview; the engine's gate has
            # the last word (and the order rate, which only it counts).
            RiskGate(session.settings.risk),
            journal=lambda: journal_problem(session.bus.stats),
            not_ready=lambda: session.not_ready,
            not_ready_rule=lambda: session.not_ready_rule,
        )

    async def send(self, command: Command, *, say_sent: bool = True) -> Outcome:
        """Send an action through the gateway: its outcome, never an exception for a
        refusal or an error. `say_sent`: a cancel all's (a reduce only's) orders
        cancelled while the bus is lost are said here (a toast); False when the caller
        says them in its own report (the app's: one toast, not two)."""
        assert self.gateway is not None  # set in __post_init__
        if isinstance(command, PlaceOrder):
            self.model.sent.add(command.request.client_order_id)
        # (read now: the view is the projection's own, updated in place)
        changed = (
            self.view.order(command.client_order_id) if isinstance(command, ModifyOrder) else None
        )
        before = changed.last_entry if changed is not None else None
        outcome = await self.gateway.send(command)
        self._cancels_sent(command, outcome, say=say_sent)
        if isinstance(command, ModifyOrder) and before is not None:
            self._modify_sent(command, outcome, before, changed)
        return outcome

    def _cancels_sent(self, command: Command, outcome: Outcome, *, say: bool = True) -> None:
        """The orders a cancel reached are marked in the Orders pane until the journal
        answers (`CancelsSent`); sent while the bus is lost, it is said at once (a
        toast, and its Log line), as the ticket says it of a new order: nothing else on
        the desk moves until the bus is back."""
        if isinstance(command, CancelOrder) and isinstance(outcome, Accepted):
            ids: Iterable[str] = (command.client_order_id,)
        elif isinstance(outcome, CancelAllDone | KillDone):
            ids = outcome.report.cancelled
        else:
            return
        marked = self.cancels_sent.mark(ids, self.view)
        if not marked or not self.bus_watch.lost or not say:
            return
        if isinstance(command, CancelOrder):
            title = "Cancel sent"
            what = f"cancel of {short_id(marked[0])} sent"
        else:
            title = "Kill switch sent" if isinstance(command, Kill) else "Cancel all sent"
            what = f"cancel of {len(marked)} order(s) sent"
        self._say_sent(title, what, "cxl…")

    def _modify_sent(
        self, command: ModifyOrder, outcome: Outcome, before: str, changed: OrderView | None
    ) -> None:
        """The order a change reached is marked in the Orders pane until the journal
        answers (`ModifiesSent`: anything of the order journaled after `before`, its last
        entry as the change went); sent while the bus is lost, it is said at once, as a
        cancel is. It said nothing: the row read `NEW?` at the old price, as if the
        change had gone nowhere, though the venue had made it."""
        if not isinstance(outcome, Accepted):
            return
        coid = command.client_order_id
        marked = self.modifies_sent.mark((coid,), self.view, since={coid: before})
        if marked and self.bus_watch.lost:
            terms = self._change_terms(command, changed)
            self._say_sent("Modify sent", f"modify of {short_id(coid)} to {terms} sent", "mod…")

    def _change_terms(self, command: ModifyOrder, view: OrderView | None) -> str:
        """What a change asked, as the Orders pane writes it (`qty 0.02, limit
        63,480.00`): while the bus is down the row keeps the journal's terms, the old
        ones, and the toast said only "modify of …quki sent"."""
        inst = (
            self.view.instrument(view.broker, view.order.request.instrument)
            if view is not None
            else None
        )
        parts = change_parts(
            command.quantity, command.limit_price, command.stop_price, inst, limit_word="limit"
        )
        return ", ".join(parts)

    def _say_sent(self, title: str, what: str, mark: str) -> None:
        """A toast, and its Log line: the command went, the journal shows it once the
        bus is back, and the row's `mark` says so until then."""
        message = (
            f"{what}; BUS DOWN: shown when the bus is back (Orders marks it {mark} until then)"
        )
        self.model.notices.append(Notice(title, message, "warning"))
        self.model.note(int(self.clock() * 1000), f"{title}: {message}", "warning")

    def unjournaled_of(self, view: OrderView) -> str:
        """What this desk sent of the order that the journal does not show yet, in
        words for its history ("" when nothing): a cancel (`cxl…`) or a change
        (`mod…`) the venue took while the bus is down."""
        sent = [
            what
            for what, marks in (("a cancel", self.cancels_sent), ("a change", self.modifies_sent))
            if marks.pending(view)
        ]
        if not sent:
            return ""
        return (
            f"{' and '.join(sent)} sent from this desk, NOT in the journal yet: its "
            "events show here once Redis takes them"
        )

    @property
    def watching(self) -> bool:
        """A desk that watches other desks (`silvertine watch`): it sends no order."""
        return self.session.watching

    @property
    def view(self) -> DeskProjection:
        """The projection every pane reads."""
        assert self.projection is not None  # set in __post_init__
        return self.projection

    def history_loader(self, client_order_id: str) -> HistoryLoader | None:
        """How to read the order's events from the journal when memory no longer holds
        them (None when it does)."""
        span = self.view.history_span(client_order_id)
        if span is None:
            return None
        bus = self.session.bus

        def load(progress: Callable[[int, int], None]) -> Awaitable[list[EventBase]]:
            return read_order_history(bus, client_order_id, span, progress=progress)

        return load

    async def order_from_journal(
        self, client_order_id: str, progress: Callable[[int, int], None] | None = None
    ) -> OrderView | None:
        """An order that left memory, rebuilt from its journal events (None when this
        desk's journal does not know it)."""
        span = self.view.history_span(client_order_id)
        if span is None:
            return None
        events = await read_order_history(
            self.session.bus, client_order_id, span, progress=progress
        )
        return order_from_events(client_order_id, events)

    @property
    def live(self) -> bool:
        """The LIVE marker: a broker configured for real money here, or one whose
        profile in the journal says so (a desk watching another's streams). It never
        reads PAPER while either says LIVE."""
        return self.session.live or self.view.any_live

    @property
    def ui(self) -> UIConfig:
        return self.session.settings.ui

    def can_short(self, broker: str) -> bool:
        """Whether a sell may exceed the position: the broker's capabilities (a spot
        account cannot; paper as its `checks.short_selling` says). An unknown broker is
        assumed to, so the ticket never refuses what the venue would accept."""
        return self.ticket_context.can_short(broker)

    def fee_rate(self, broker: str, instrument: str) -> FeeRate | None:
        """For the ticket's fee estimate: the paper venue's configured taker rate (an
        order may cross); for a real venue, what it charged on the instrument, else
        the venue's published commission where its adapter lists one
        (`Instrument.fee_rate`, `fee_minimum`: IB's currencies, 0.20 basis points and
        at least 2 USD, where 0.1% read 21.56 USD of an order charged 2), else what it
        charged on its other instruments of the kind charged the same way (`FeeRates`,
        all three); until then 0.1% of the notional, or None (not known) for an
        instrument charged per unit: no rate of the notional says what a contract
        costs."""
        for config in self.session.settings.brokers:
            if config.name == broker and isinstance(config, PaperBrokerConfig):
                return FeeRate(config.fees.taker_bps / 10_000)
        listed = self.view.instrument(broker, instrument)
        learnt = self.model.fee_rates.rate(broker, instrument, listed)
        if learnt is not None:
            return learnt
        if listed is not None and listed.fee_per_unit:
            return None
        return FeeRate(DEFAULT_FEE_RATE)
