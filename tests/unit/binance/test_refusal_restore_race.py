"""A Binance modify refused (or failed, Binance leaving the order as it was) while a
cancel of the same order is on its way: the journal's status is put back from
PENDING_REPLACE only while the order is still PENDING_REPLACE, read under the publish
lock. Before, only the refusal of the send guard did so (91b82fc); the other refusal
paths of a change (the validation after the instrument is read, the last-trade check
before a cancelReplace, an amend Binance refused) wrote NEW "modify refused ..." over
the cancel's PENDING_CANCEL, which had landed meanwhile: the desk showed the order
working, and nothing cancelling, until Binance's CANCELED came.

Driven as it happens: the modify's PENDING_REPLACE write stalls (Redis slow) while the
trader cancels; the cancel's PENDING_CANCEL waits on the publish lock and lands first
once the write goes through, before the modify's refusal is written. The real
python-binance client against the fake Binance; the cancel's answer (and its CANCELED
report) comes late, as a slow link's.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.domain.errors import OrderValidationError
from silvertine_tui.events import CancelRequestEvent, EventBase, OrderUpdateEvent
from tests.fakes.binance import Commission, FakeBinance, SymbolSpec
from tests.support.binance_broker import BinanceDriver, Session, build_broker
from tests.support.waiting import until

S = OrderStatus
ETH = "ETHUSDT"
KEY = "ETHUSDT.BINANCE"


class StalledBus(MemoryBus):
    """The one write `stall_on` picks waits until `go` is set (Redis stalled)."""

    def __init__(self) -> None:
        super().__init__(BusOptions(prefix=f"binance-{uuid.uuid4().hex[:8]}", block_ms=50))
        self.stall_on: Callable[[EventBase], bool] | None = None
        self.stalled = asyncio.Event()
        self.go = asyncio.Event()

    async def publish(self, event: EventBase) -> str | None:
        if self.stall_on is not None and self.stall_on(event):
            self.stall_on = None
            self.stalled.set()
            await self.go.wait()
        return await super().publish(event)


@contextlib.asynccontextmanager
async def stalling_session() -> AsyncIterator[tuple[Session, StalledBus]]:
    """ETHUSDT (amendable) quoted 1,980 / 2,001, its last trade 2,000; 10,000 USDT and
    2 ETH; the adapter connected on a bus whose writes can be stalled."""
    bus = StalledBus()
    await bus.start()
    async with FakeBinance(
        symbols=(SymbolSpec(ETH, "ETH", "USDT", amend_allowed=True),),
        balances={"USDT": "10000", "ETH": "2"},
        commission=Commission(mode="quote"),
    ) as fake:
        await fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
        await fake.trade(ETH, "2000", "0.1")
        broker = build_broker(fake, bus, [ETH])
        session = Session(fake, bus, broker, BinanceDriver(fake, broker, ETH))
        try:
            await broker.connect()
            yield session, bus
        finally:
            await broker.close()
            await bus.close()


def limit_buy(coid: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="binance",
        account="spot",
        instrument=KEY,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("1.0"),
        limit_price=D("1990"),
    )


def stop_limit_sell(coid: str) -> OrderRequest:
    """Stop 1,980 below the last trade (2,000): it waits."""
    return OrderRequest(
        client_order_id=coid,
        broker="binance",
        account="spot",
        instrument=KEY,
        side=Side.SELL,
        order_type=OrderType.STOP_LIMIT,
        quantity=D("0.5"),
        stop_price=D(1980),
        limit_price=D(1975),
    )


async def statuses(s: Session, coid: str) -> list[tuple[OrderStatus, str]]:
    return [
        (e.payload.status, e.payload.reason)
        for e in await s.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


async def cancel_asked(s: Session, coid: str) -> None:
    """Until the cancel's request is journaled (its PENDING_CANCEL comes next)."""
    async with asyncio.timeout(5.0):
        while True:  # (the adapter journals on its own task)
            events = await s.events()
            if any(
                isinstance(e, CancelRequestEvent) and e.payload.client_order_id == coid
                for e in events
            ):
                return
            await asyncio.sleep(0.005)


CASES = {
    # The limit off the tick grid: refused after the instrument is read.
    "validation": (limit_buy, {"limit_price": D("1990.005")}, OrderValidationError, "tick"),
    # The stop through Binance's last trade: refused after asking it (its 24 h ticker).
    "last_trade": (
        stop_limit_sell,
        {"stop_price": D(2000)},
        OrderRejected,
        "is through Binance's last trade",
    ),
    # A quantity cut alone is amended in place; Binance refuses the amend (-2038).
    "amend_refused": (limit_buy, {"quantity": D("0.6")}, OrderRejected, "not done"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_refused_modify_does_not_write_over_a_cancel_on_its_way(case: str) -> None:
    make, change, error, words = CASES[case]
    async with stalling_session() as (s, bus):
        coid = await s.broker.place(make(f"race{case[:4]}"))
        await until(lambda: s.broker._orders[coid].status is S.NEW, 5.0, "NEW")
        if case == "amend_refused":
            s.fake.reject_next_amend()
        # The cancel's answer, and Binance's CANCELED report, come a second late.
        s.fake.slow_replies("DELETE", "/api/v3/order", 1.0)
        bus.stall_on = lambda e: (
            isinstance(e, OrderUpdateEvent)
            and e.payload.client_order_id == coid
            and e.payload.status is S.PENDING_REPLACE
        )
        modify = asyncio.create_task(s.broker.modify(coid, **change))
        await asyncio.wait_for(bus.stalled.wait(), 5.0)
        cancel = asyncio.create_task(s.broker.cancel(coid, reason="the trader's cancel"))
        await cancel_asked(s, coid)
        await asyncio.sleep(0.05)  # (its PENDING_CANCEL waits on the publish lock)
        bus.go.set()
        with pytest.raises(error, match=words):
            await modify
        assert s.broker._orders[coid].status is S.PENDING_CANCEL
        await cancel
        await until(lambda: s.broker._orders[coid].status is S.CANCELED, 5.0, "CANCELED")
        said = await statuses(s, coid)
        seq = [status for status, _ in said]
        assert S.PENDING_REPLACE in seq, said
        cancelling = seq.index(S.PENDING_CANCEL)
        assert seq[cancelling:] == [S.PENDING_CANCEL, S.CANCELED], said
        assert s.fake.order_by_client_id(coid).status == "CANCELED"
