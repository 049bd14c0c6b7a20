"""A broker adapter whose venue is a dict the test controls.

It implements the whole `Broker` contract honestly (acks, cancels, modifies, publishes
through the base class), but its market never moves by itself: the test says what the
venue holds — orders placed behind our back, fills made while we were away, positions
that drifted — to exercise the engine's reconciliation and kill switch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Self

from silvertine_tui.brokers import Broker, NotConnected, ReconcileReport, UnknownOrder
from silvertine_tui.config import ExternalBrokerConfig
from silvertine_tui.domain import (
    Balance,
    ConnectionState,
    Fill,
    Instrument,
    MarketDataKind,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Side,
    VenueOrder,
)
from silvertine_tui.events import FillEvent, ModifyRequest

INSTRUMENT = Instrument(
    symbol="XYZ",
    venue="SCRIPT",
    base_currency="XYZ",
    quote_currency="USD",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("1"),
)


def scripted_fill(
    n: int, *, side: Side = Side.BUY, price: str = "10.00", instrument: str = ""
) -> FillEvent:
    """Fill `e<n>` of order `c<n>`: 1 of `instrument` (default `INSTRUMENT`) at `price`,
    on scripted/main, as its journal holds it."""
    return FillEvent.create(
        "scripted/main",
        Fill(
            exec_id=f"e{n}",
            client_order_id=f"c{n}",
            broker="scripted",
            account="main",
            instrument=instrument or INSTRUMENT.key,
            side=side,
            quantity=Decimal(1),
            price=Decimal(price),
        ),
    )


class ScriptedVenue(Broker):
    kind = "scripted"

    def __init__(self, config: ExternalBrokerConfig, bus, *, clock=None) -> None:
        if clock is None:
            super().__init__(config, bus)
        else:
            super().__init__(config, bus, clock=clock)
        self.venue_orders: dict[str, VenueOrder] = {}
        self.venue_fills: list[Fill] = []
        self.venue_positions: dict[str, Decimal] = {}
        self.sent: list[str] = []
        self._ids = itertools.count(1)
        # Why `connect` fails ("" : it does not): the venue unreachable at start. With
        # `connect_raises` off, `connect` returns DISCONNECTED instead, as an adapter
        # that keeps retrying in the background does.
        self.connect_error = ""
        self.connect_raises = True
        # What each `reconcile` call was given as the journal's last fills.
        self.reconcile_asks: list[dict[str, Fill]] = []
        self.venue_balances: list[Balance] = []

    @classmethod
    def build(cls, bus, name: str = "scripted", account: str = "main") -> Self:
        return cls(ExternalBrokerConfig(name=name, type="scripted", account=account), bus)

    async def connect(self) -> None:
        if self.connect_error:
            if self.connect_raises:
                raise NotConnected(self.connect_error)
            await self.set_state(ConnectionState.DISCONNECTED, self.connect_error)
            return
        await self.set_state(ConnectionState.LIVE, "scripted venue up")

    async def come_back(self) -> None:
        """The venue is reachable again: LIVE, and the reconnect is announced (as an
        adapter that keeps retrying in the background does)."""
        self.connect_error = ""
        self.health_state.reconnects += 1
        await self.set_state(ConnectionState.LIVE, "scripted venue back")
        await self.announce_reconnect()

    async def close(self) -> None:
        await self.set_state(ConnectionState.DISCONNECTED, "closed")

    async def _submit(self, request: OrderRequest) -> None:
        self.sent.append(request.client_order_id)
        venue_id = str(next(self._ids))
        self.venue_orders[request.client_order_id] = VenueOrder(
            client_order_id=request.client_order_id,
            venue_order_id=venue_id,
            instrument=request.instrument,
            side=request.side,
            order_type=request.order_type,
            tif=request.tif,
            # An order by quote amount: the venue sizes it when it fills.
            quantity=request.quantity if request.quantity is not None else Decimal(0),
            limit_price=request.limit_price,
            stop_price=request.stop_price,
        )
        await self.publish_update(
            OrderUpdate(
                client_order_id=request.client_order_id,
                status=OrderStatus.NEW,
                venue_order_id=venue_id,
            )
        )

    async def _modify(self, change: ModifyRequest) -> None:
        order = self.venue_orders.get(change.client_order_id)
        if order is None:
            raise UnknownOrder(f"unknown order {change.client_order_id}")
        updates = {
            k: v
            for k, v in (("quantity", change.quantity), ("limit_price", change.limit_price))
            if v is not None
        }
        self.venue_orders[change.client_order_id] = order.model_copy(update=updates)
        await self.publish_update(
            OrderUpdate(client_order_id=change.client_order_id, status=OrderStatus.NEW, **updates)
        )

    async def _cancel(self, client_order_id: str) -> None:
        if self.venue_orders.pop(client_order_id, None) is None:
            raise UnknownOrder(f"unknown order {client_order_id}")
        await self.publish_update(
            OrderUpdate(client_order_id=client_order_id, status=OrderStatus.CANCELED)
        )

    async def query_order(self, client_order_id: str) -> VenueOrder | None:
        return self.venue_orders.get(client_order_id)

    async def open_orders(self) -> list[VenueOrder]:
        return list(self.venue_orders.values())

    async def positions(self) -> list[Position]:
        return [
            Position(broker=self.name, account=self.account, instrument=k, quantity=v)
            for k, v in self.venue_positions.items()
        ]

    async def balances(self) -> list[Balance]:
        return list(self.venue_balances)

    async def instruments(self) -> dict[str, Instrument]:
        return {INSTRUMENT.key: INSTRUMENT}

    async def subscribe(
        self,
        instruments: Iterable[str],
        kinds: Iterable[MarketDataKind] = (MarketDataKind.QUOTE,),
    ) -> None:
        return None

    async def unsubscribe(self, instruments: Iterable[str]) -> None:
        return None

    async def reconcile(
        self, since_ns: int = 0, last_fills: Mapping[str, Fill] | None = None
    ) -> ReconcileReport:
        """Like a venue that numbers trades per symbol: the fills after the journal's
        last one in each instrument (all of an instrument the journal has none of)."""
        if self.state is ConnectionState.DISCONNECTED:
            raise NotConnected(f"{self.source} is DISCONNECTED: cannot reconcile now")
        asked = dict(last_fills or {})
        self.reconcile_asks.append(asked)
        fills: list[Fill] = []
        for fill in self.venue_fills:
            last = asked.get(fill.instrument)
            if last is not None:
                ids = [f.exec_id for f in self.venue_fills if f.instrument == fill.instrument]
                if last.exec_id in ids and ids.index(fill.exec_id) <= ids.index(last.exec_id):
                    continue
            fills.append(fill)
        return ReconcileReport(
            broker=self.name,
            account=self.account,
            as_of_ns=self.clock(),
            open_orders=tuple(self.venue_orders.values()),
            fills=tuple(fills),
            positions=tuple(await self.positions()),
        )
