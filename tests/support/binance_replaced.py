"""Binance's side of an order across its replaces (each a venue order under the same
client order id, in the fake exchange): for the tests of a restart while an order
works under a replacement."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.config import RiskConfig
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import recover
from tests.fakes.binance.exchange import Order as VenueOrder
from tests.support.binance_broker import Session, build_broker
from tests.support.binance_stream import journaled


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


async def fill(s: Session, engine: TradingEngine, qty: D) -> None:
    """A fill of o1's working venue order, journaled while the desk is up."""
    if not qty:
        return
    order = engine.oms.orders["o1"].order
    target = order.filled_qty + qty
    await s.fake.fill(working(s, "o1").order_id, qty=qty)
    await journaled(s, engine, lambda: order.filled_qty == target)


async def restart(s: Session) -> tuple[TradingEngine, BinanceBroker]:
    """A new engine over the journal (from the snapshot, if any) and a new adapter,
    connected; not reconciled yet."""
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await recover(engine, [("binance", "spot")])
    again = build_broker(s.fake, s.bus, ["ETHUSDT"])
    engine.brokers["binance"] = again
    await again.connect()
    await engine.load_instruments()
    return engine, again
