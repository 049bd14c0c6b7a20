"""Every event kind, joined in one discriminated union."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, TypeAdapter

from ..domain import (
    Balance,
    Book,
    FeeCorrection,
    Fill,
    FillCorrection,
    OrderRequest,
    OrderUpdate,
    Position,
    Quote,
    ReferencePrice,
    Trade,
)
from .envelope import EventBase
from .payloads import (
    BrokerProfile,
    CancelRequest,
    Health,
    Log,
    ModifyRequest,
    Reconcile,
    Risk,
    Signal,
    Snapshot,
)


class Channel(StrEnum):
    """Which family of streams an event kind belongs to (see `bus.layout`)."""

    MARKET_DATA = "md"
    EXECUTION = "exec"
    HEALTH = "health"
    SIGNAL = "signal"
    RISK = "risk"
    SNAPSHOT = "snap"


class QuoteEvent(EventBase):
    type: Literal["quote"] = "quote"
    payload: Quote


class BookEvent(EventBase):
    type: Literal["book"] = "book"
    payload: Book


class TradeEvent(EventBase):
    type: Literal["trade"] = "trade"
    payload: Trade


class ReferencePriceEvent(EventBase):
    """An instrument's reference price (what its Chg% is measured from), published on
    the market-data stream when the adapter learns it or the venue changes it, and
    again every few seconds (`Broker.REFERENCE_REPEAT_S`) for readers that start later.
    A type of its own, not a field on every quote: quotes stay as they were on the wire
    and in the hot path, and a build that does not know it skips it (`UnknownEvent`)."""

    type: Literal["reference"] = "reference"
    payload: ReferencePrice


class OrderRequestEvent(EventBase):
    type: Literal["order.request"] = "order.request"
    payload: OrderRequest


class CancelRequestEvent(EventBase):
    type: Literal["order.cancel"] = "order.cancel"
    payload: CancelRequest


class ModifyRequestEvent(EventBase):
    type: Literal["order.modify"] = "order.modify"
    payload: ModifyRequest


class OrderUpdateEvent(EventBase):
    type: Literal["order.update"] = "order.update"
    payload: OrderUpdate


class FillEvent(EventBase):
    type: Literal["fill"] = "fill"
    payload: Fill


class FeeCorrectionEvent(EventBase):
    """A journaled fill's fee as the venue reported it later (`FeeCorrection`)."""

    type: Literal["fill.fee"] = "fill.fee"
    payload: FeeCorrection


class FillCorrectionEvent(EventBase):
    """A journaled fill as the venue corrected it later (`FillCorrection`)."""

    type: Literal["fill.correction"] = "fill.correction"
    payload: FillCorrection


class PositionEvent(EventBase):
    type: Literal["position"] = "position"
    payload: Position


class BalanceEvent(EventBase):
    type: Literal["balance"] = "balance"
    payload: Balance


class ReconcileEvent(EventBase):
    type: Literal["reconcile"] = "reconcile"
    payload: Reconcile


class SignalEvent(EventBase):
    type: Literal["signal"] = "signal"
    payload: Signal


class HealthEvent(EventBase):
    type: Literal["health"] = "health"
    payload: Health


class BrokerProfileEvent(EventBase):
    """A broker's capabilities and instruments (health channel: `{p}:health`)."""

    type: Literal["broker.profile"] = "broker.profile"
    payload: BrokerProfile


class LogEvent(EventBase):
    type: Literal["log"] = "log"
    payload: Log


class RiskEvent(EventBase):
    type: Literal["risk"] = "risk"
    payload: Risk


class SnapshotEvent(EventBase):
    type: Literal["snapshot"] = "snapshot"
    payload: Snapshot


Event = Annotated[
    QuoteEvent
    | BookEvent
    | TradeEvent
    | ReferencePriceEvent
    | OrderRequestEvent
    | CancelRequestEvent
    | ModifyRequestEvent
    | OrderUpdateEvent
    | FillEvent
    | FeeCorrectionEvent
    | FillCorrectionEvent
    | PositionEvent
    | BalanceEvent
    | ReconcileEvent
    | SignalEvent
    | HealthEvent
    | BrokerProfileEvent
    | LogEvent
    | RiskEvent
    | SnapshotEvent,
    Field(discriminator="type"),
]

# Built on first use, like the models (nothing before the first frame validates a union).
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event, config=ConfigDict(defer_build=True))

EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        QuoteEvent,
        BookEvent,
        TradeEvent,
        ReferencePriceEvent,
        OrderRequestEvent,
        CancelRequestEvent,
        ModifyRequestEvent,
        OrderUpdateEvent,
        FillEvent,
        FeeCorrectionEvent,
        FillCorrectionEvent,
        PositionEvent,
        BalanceEvent,
        ReconcileEvent,
        SignalEvent,
        HealthEvent,
        BrokerProfileEvent,
        LogEvent,
        RiskEvent,
        SnapshotEvent,
    )
}

CHANNELS: dict[str, Channel] = {
    "quote": Channel.MARKET_DATA,
    "book": Channel.MARKET_DATA,
    "trade": Channel.MARKET_DATA,
    "reference": Channel.MARKET_DATA,
    "order.request": Channel.EXECUTION,
    "order.cancel": Channel.EXECUTION,
    "order.modify": Channel.EXECUTION,
    "order.update": Channel.EXECUTION,
    "fill": Channel.EXECUTION,
    "fill.fee": Channel.EXECUTION,
    "fill.correction": Channel.EXECUTION,
    "position": Channel.EXECUTION,
    "balance": Channel.EXECUTION,
    "reconcile": Channel.EXECUTION,
    "signal": Channel.SIGNAL,
    "health": Channel.HEALTH,
    "broker.profile": Channel.HEALTH,
    "log": Channel.HEALTH,
    "risk": Channel.RISK,
    "snapshot": Channel.SNAPSHOT,
}

MARKET_DATA_TYPES = frozenset(t for t, c in CHANNELS.items() if c is Channel.MARKET_DATA)


def coalesce_key(event: EventBase) -> str | None:
    """Market data is coalesced to the latest per (type, instrument); None otherwise."""
    if event.type in MARKET_DATA_TYPES and event.type != "trade":
        return f"{event.source}|{event.type}|{event.payload.instrument}"
    return None
