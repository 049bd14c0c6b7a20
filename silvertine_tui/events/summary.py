"""One-line human descriptions of events, for logs, `silvertine replay` and the UI."""

from __future__ import annotations

from decimal import Decimal

from ..domain import Balance, Book, Fill, OrderRequest, OrderUpdate, Position, Quote, Trade
from .codec import Decoded, DecodeError, UnknownEvent
from .payloads import (
    CancelRequest,
    Health,
    Log,
    ModifyRequest,
    Reconcile,
    Risk,
    Signal,
    Snapshot,
)


def _n(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:f}"


def describe(event: Decoded) -> str:
    if isinstance(event, DecodeError):
        return f"undecodable entry: {event.reason}"
    if isinstance(event, UnknownEvent):
        return f"unknown event type {event.type!r} v{event.v} ({len(event.payload)} bytes)"
    p = event.payload
    match p:
        case Quote():
            return f"{p.instrument} bid {_n(p.bid)} ask {_n(p.ask)} last {_n(p.last)}"
        case Book():
            bid = p.bids[0].price if p.bids else None
            ask = p.asks[0].price if p.asks else None
            return f"{p.instrument} book {len(p.bids)}x{len(p.asks)} {_n(bid)}/{_n(ask)}"
        case Trade():
            return f"{p.instrument} print {_n(p.quantity)} @ {_n(p.price)}"
        case OrderRequest():
            price = f" @ {_n(p.limit_price)}" if p.limit_price is not None else ""
            stop = f" stop {_n(p.stop_price)}" if p.stop_price is not None else ""
            return (
                f"{p.client_order_id} {p.side} {_n(p.quantity)} {p.instrument} "
                f"{p.order_type}{price}{stop} {p.tif}"
            )
        case CancelRequest():
            return f"{p.client_order_id} cancel requested"
        case ModifyRequest():
            return f"{p.client_order_id} modify qty {_n(p.quantity)} price {_n(p.limit_price)}"
        case OrderUpdate():
            reason = f" ({p.reason})" if p.reason else ""
            return f"{p.client_order_id} {p.status} filled {_n(p.filled_qty)}{reason}"
        case Fill():
            return (
                f"{p.client_order_id} {p.side} {_n(p.quantity)} {p.instrument} @ {_n(p.price)}"
                f" fee {_n(p.fee)} {p.fee_currency}".rstrip()
            )
        case Position():
            return f"{p.instrument} position {_n(p.quantity)} avg {_n(p.avg_price)}"
        case Balance():
            return f"{p.currency} total {_n(p.total)} available {_n(p.available)}"
        case Reconcile():
            return f"{p.kind} {p.client_order_id or p.instrument} ours={p.ours} venue={p.venue}"
        case Signal():
            return f"{p.strategy}: {p.side} {_n(p.quantity)} {p.instrument} @ {_n(p.price)}"
        case Health():
            return f"{p.component} {p.state} {p.message}".rstrip()
        case Log():
            return f"{p.level} {p.message}"
        case Risk():
            return f"{p.action} {p.trading_state} {p.rule} {p.message}".rstrip()
        case Snapshot():
            return (
                f"{p.broker}/{p.account} snapshot covering {p.covers}: "
                f"{len(p.orders)} orders, {len(p.positions)} positions"
            )
