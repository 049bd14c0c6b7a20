"""The contract every broker adapter implements.

Adapters talk to a venue (or simulate one) and publish what happens as events on the
bus; they never call the UI or the engine. The engine owns order state and reads it
back from the bus, so the same code path serves live trading and journal replay.

Order flow, for every adapter:
- `place` validates against the instrument (nothing is published or sent if invalid),
  journals the request and a PENDING_NEW update at once, then submits. A rejection is
  published as REJECTED and raised. A timeout leaves the order PENDING_NEW: its fate is
  unknown until the venue answers or a reconcile finds it.
- `modify` and `cancel` journal the intent and PENDING_REPLACE / PENDING_CANCEL; the
  adapter publishes the venue's answer (NEW with new terms, CANCELED, or the previous
  working status when the venue refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..bus import EventBus
from ..config import BrokerConfigBase
from ..domain import (
    Balance,
    Book,
    ConnectionState,
    Fill,
    Instrument,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Quote,
    Trade,
    VenueOrder,
)
from ..events import (
    BalanceEvent,
    BookEvent,
    CancelRequest,
    CancelRequestEvent,
    EventBase,
    FillEvent,
    Health,
    HealthEvent,
    ModifyRequest,
    ModifyRequestEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
    QuoteEvent,
    TradeEvent,
)
from .errors import BrokerError, BrokerTimeout, NotConnected, OrderRejected, UnknownOrder

log = logging.getLogger(__name__)

__all__ = ["TRADABLE_STATES", "Broker", "BrokerHealth", "Clock", "ReconcileReport", "VenueOrder"]

Clock = Callable[[], int]
"""Nanoseconds since the epoch."""

TRADABLE_STATES = frozenset({ConnectionState.LIVE, ConnectionState.DEGRADED})


class ReconcileReport(BaseModel):
    """What the venue holds, used after every connect and reconnect."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    broker: str
    account: str
    as_of_ns: int
    open_orders: tuple[VenueOrder, ...] = ()
    fills: tuple[Fill, ...] = Field(default=(), description="fills since the asked time")
    positions: tuple[Position, ...] = ()
    balances: tuple[Balance, ...] = ()


@dataclass(slots=True)
class BrokerHealth:
    state: ConnectionState = ConnectionState.DISCONNECTED
    rtt_ms: float | None = None
    reconnects: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    rate_limit: dict[str, float] = field(default_factory=dict)
    last_message_ns: dict[str, int] = field(default_factory=dict)
    extra: dict[str, float | int | str] = field(default_factory=dict)

    def ages_s(self, now_ns: int) -> dict[str, float]:
        return {k: max(0.0, (now_ns - v) / 1e9) for k, v in self.last_message_ns.items()}

    def as_metrics(self, now_ns: int) -> dict[str, int | float | str | bool | None]:
        metrics: dict[str, int | float | str | bool | None] = {
            "rtt_ms": self.rtt_ms,
            "reconnects": self.reconnects,
            "errors": sum(self.errors.values()),
        }
        ages = self.ages_s(now_ns)
        if ages:
            metrics["md_age_max_s"] = round(max(ages.values()), 3)
        for key, age in sorted(ages.items()):
            metrics[f"age_s:{key}"] = round(age, 3)
        for key, value in self.rate_limit.items():
            metrics[f"rate:{key}"] = value
        for key, count in self.errors.items():
            metrics[f"error:{key}"] = count
        metrics.update(self.extra)
        return metrics


class Broker(ABC):
    """Base of every adapter. Subclasses implement the `_`-prefixed venue calls."""

    kind: ClassVar[str]

    def __init__(
        self, config: BrokerConfigBase, bus: EventBus, *, clock: Clock = time.time_ns
    ) -> None:
        self.config = config
        self.name = config.name
        self.account = config.account
        self.live = config.live
        self.bus = bus
        self.clock = clock
        self.health_state = BrokerHealth()
        self._health_task: asyncio.Task[None] | None = None

    # -- identity and state ---------------------------------------------------------

    @property
    def source(self) -> str:
        """`broker/account`: routes execution events to this account's journal."""
        return f"{self.name}/{self.account}"

    @property
    def component(self) -> str:
        return f"broker:{self.source}"

    @property
    def state(self) -> ConnectionState:
        return self.health_state.state

    async def set_state(self, state: ConnectionState, message: str = "") -> None:
        if state is self.health_state.state and not message:
            return
        self.health_state.state = state
        log.info("broker.state", extra={"broker": self.source, "state": state, "detail": message})
        await self.publish_health(message)

    async def publish_health(self, message: str = "") -> None:
        now = self.clock()
        await self.bus.publish(
            HealthEvent.create(
                self.component,
                Health(
                    component=self.component,
                    state=self.state,
                    message=message,
                    metrics=self.health_state.as_metrics(now),
                ),
                ts=now,
            )
        )

    def start_health_loop(self, interval_s: float = 1.0) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await self.publish_health()
                except Exception:
                    log.exception("broker.health_publish_failed", extra={"broker": self.source})

        if self._health_task is None or self._health_task.done():
            self._health_task = asyncio.create_task(loop(), name=f"health:{self.source}")

    async def stop_health_loop(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None

    def count_error(self, kind: str) -> None:
        self.health_state.errors[kind] += 1

    # -- publishing helpers -----------------------------------------------------------

    async def publish(self, event: EventBase) -> None:
        await self.bus.publish(event)

    async def publish_update(self, update: OrderUpdate) -> None:
        await self.publish(OrderUpdateEvent.create(self.source, update, ts=self.clock()))

    async def publish_fill(self, fill: Fill) -> None:
        await self.publish(FillEvent.create(self.source, fill, ts=self.clock()))

    async def publish_position(self, position: Position) -> None:
        await self.publish(PositionEvent.create(self.source, position, ts=self.clock()))

    async def publish_balance(self, balance: Balance) -> None:
        await self.publish(BalanceEvent.create(self.source, balance, ts=self.clock()))

    def _seen(self, instrument: str, now: int) -> None:
        self.health_state.last_message_ns[instrument] = now

    async def publish_quote(self, quote: Quote) -> None:
        now = self.clock()
        self._seen(quote.instrument, now)
        await self.publish(QuoteEvent.create(self.name, quote, ts=now))

    async def publish_book(self, book: Book) -> None:
        now = self.clock()
        self._seen(book.instrument, now)
        await self.publish(BookEvent.create(self.name, book, ts=now))

    async def publish_trade(self, trade: Trade) -> None:
        now = self.clock()
        self._seen(trade.instrument, now)
        await self.publish(TradeEvent.create(self.name, trade, ts=now))

    # -- order entry (shared flow) ----------------------------------------------------

    def _require_tradable(self) -> None:
        if self.state not in TRADABLE_STATES:
            raise NotConnected(
                f"{self.source} is {self.state}: orders can be sent when it is LIVE. "
                "Wait for the connection or check the health pane."
            )

    async def place(self, request: OrderRequest, market_price: Decimal | None = None) -> str:
        """Validate, journal, submit. Returns the client order id."""
        if request.broker != self.name or request.account != self.account:
            raise OrderRejected(
                f"request for {request.broker}/{request.account} sent to {self.source}"
            )
        self._require_tradable()
        instrument = await self.instrument(request.instrument)
        request.validate_for(instrument, market_price)
        await self.publish(OrderRequestEvent.create(self.source, request, ts=self.clock()))
        await self.publish_update(
            OrderUpdate(client_order_id=request.client_order_id, status=OrderStatus.PENDING_NEW)
        )
        try:
            await self._submit(request)
        except BrokerTimeout:
            self.count_error("timeout")
            raise
        except BrokerError as exc:
            self.count_error(type(exc).__name__)
            await self.publish_update(
                OrderUpdate(
                    client_order_id=request.client_order_id,
                    status=OrderStatus.REJECTED,
                    reason=str(exc),
                )
            )
            raise
        return request.client_order_id

    async def modify(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> None:
        if quantity is None and limit_price is None and stop_price is None:
            raise ValueError("modify needs a new quantity, limit price or stop price")
        self._require_tradable()
        change = ModifyRequest(
            client_order_id=client_order_id,
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
        )
        await self.publish(ModifyRequestEvent.create(self.source, change, ts=self.clock()))
        await self.publish_update(
            OrderUpdate(client_order_id=client_order_id, status=OrderStatus.PENDING_REPLACE)
        )
        await self._modify(change)

    async def cancel(self, client_order_id: str, reason: str = "") -> None:
        self._require_tradable()
        await self.publish(
            CancelRequestEvent.create(
                self.source,
                CancelRequest(client_order_id=client_order_id, reason=reason),
                ts=self.clock(),
            )
        )
        await self.publish_update(
            OrderUpdate(client_order_id=client_order_id, status=OrderStatus.PENDING_CANCEL)
        )
        await self._cancel(client_order_id)

    async def cancel_all(self, instrument: str | None = None) -> list[str]:
        """Cancel every working order (optionally of one instrument). Returns their ids.
        Orders the venue no longer knows (filled meanwhile) are skipped, not errors. A
        refused cancel does not stop the others: once all were tried, a `BrokerError`
        names what was cancelled and each order still working with the venue's reason."""
        cancelled: list[str] = []
        failed: dict[str, str] = {}
        for order in await self.open_orders():
            if instrument is not None and order.instrument != instrument:
                continue
            try:
                await self.cancel(order.client_order_id, reason="cancel all")
            except UnknownOrder:
                continue
            except BrokerError as exc:
                failed[order.client_order_id] = str(exc)
                log.warning(
                    "broker.cancel_failed",
                    extra={
                        "broker": self.source,
                        "client_order_id": order.client_order_id,
                        "error": str(exc),
                    },
                )
                continue
            cancelled.append(order.client_order_id)
        if failed:
            listed = "; ".join(f"{cid}: {why}" for cid, why in failed.items())
            raise BrokerError(
                f"cancel all at {self.source}: cancelled {len(cancelled)}, "
                f"{len(failed)} still working ({listed}); cancel them again or at the venue"
            )
        return cancelled

    async def instrument(self, key: str) -> Instrument:
        instruments = await self.instruments()
        try:
            return instruments[key]
        except KeyError:
            known = ", ".join(sorted(instruments)) or "none"
            raise OrderRejected(
                f"instrument {key} is not traded at {self.source} (known: {known})"
            ) from None

    # -- what each adapter implements ----------------------------------------------------

    @abstractmethod
    async def connect(self) -> None:
        """Connect, reconcile, go LIVE. Publishes every state change."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect cleanly (does not cancel orders)."""

    @abstractmethod
    async def _submit(self, request: OrderRequest) -> None: ...

    @abstractmethod
    async def _modify(self, change: ModifyRequest) -> None: ...

    @abstractmethod
    async def _cancel(self, client_order_id: str) -> None: ...

    @abstractmethod
    async def open_orders(self) -> list[VenueOrder]: ...

    @abstractmethod
    async def positions(self) -> list[Position]: ...

    @abstractmethod
    async def balances(self) -> list[Balance]: ...

    @abstractmethod
    async def instruments(self) -> dict[str, Instrument]:
        """Tradable instruments by `SYMBOL.VENUE` key."""

    @abstractmethod
    async def subscribe(self, instruments: Iterable[str]) -> None: ...

    @abstractmethod
    async def unsubscribe(self, instruments: Iterable[str]) -> None: ...

    @abstractmethod
    async def reconcile(self, since_ns: int = 0) -> ReconcileReport:
        """Open orders, fills since `since_ns`, positions and balances at the venue."""
