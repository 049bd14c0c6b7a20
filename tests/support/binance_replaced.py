"""Binance's side of an order across its replaces (each a venue order under the same
client order id, in the fake exchange): for the tests of a restart while an order
works under a replacement."""

from __future__ import annotations

from decimal import Decimal as D

from tests.fakes.binance.exchange import Order as VenueOrder
from tests.support.binance_broker import Session


def venue_orders(s: Session, coid: str) -> list[VenueOrder]:
    return [o for o in s.fake.exchange.orders.values() if o.client_order_id == coid]


def working(s: Session, coid: str) -> VenueOrder:
    [*_, order] = venue_orders(s, coid)
    return order


def whole_order(s: Session, coid: str) -> tuple[D, D]:
    """Binance's order across its replaces: (quantity, filled)."""
    *retired, current = venue_orders(s, coid)
    before = sum((o.executed_qty for o in retired), D(0))
    return before + current.orig_qty, before + current.executed_qty
