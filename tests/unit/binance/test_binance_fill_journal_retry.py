"""A fill the bus refuses to journal (Redis READONLY, OOM, a full outage buffer) is kept
by the adapter and written again until the bus takes it (`Broker.publish_fill`): the
adapter counts it journaled, so a refused write not tried again was a fill lost. Against
the fake Binance (the real python-binance client runs); the refusal is Redis's, put in
front of the memory bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest

from silvertine_tui.brokers.kept import RETRY_MAX_S
from silvertine_tui.bus import BusError
from silvertine_tui.domain import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TradingState,
)
from silvertine_tui.events import EventBase, FillEvent, OrderUpdateEvent
from silvertine_tui.events.payloads import Health
from silvertine_tui.ui.model import ComponentHealth
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, broker_line
from tests.contract.test_broker_contract import fills, replay_orders, statuses
from tests.support.binance_broker import Session, binance_session
from tests.support.refusing_bus import RefusedWrites

S = OrderStatus
D = Decimal


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        yield session


class Journal:
    """What the bus does with a fill: `take` it, `refuse` it as Redis does (BusError),
    or fail in a way of its own (`fault`: not a BusError) once, then refuse."""

    def __init__(self, s: Session) -> None:
        self.mode = "take"
        self.refused: list[str] = []
        self.faults = 0
        self._publish: Callable[[EventBase], Awaitable[str | None]] = s.bus.publish
        s.bus.publish = self._write  # type: ignore[method-assign]

    async def _write(self, event: EventBase) -> str | None:
        if event.type == "fill" and self.mode != "take":
            self.refused.append(event.payload.exec_id)
            if self.mode == "fault":
                self.mode = "refuse"
                self.faults += 1
                raise RuntimeError("a fault of the bus's own, not a refusal")
            raise BusError("Redis refused the write: it was not journaled")
        return await self._publish(event)


def buy(s: Session, qty: str = "0.5") -> OrderRequest:
    return OrderRequest(
        broker=s.broker.name,
        account=s.broker.account,
        instrument="ETHUSDT.BINANCE",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D("1990"),
    )


async def until(
    check: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 2 * RETRY_MAX_S + 2
) -> None:
    """(The default outlasts the longest wait between two writes again, `RETRY_MAX_S`.)"""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def working(s: Session, qty: str = "0.5") -> str:
    coid = await s.broker.place(buy(s, qty))

    async def new() -> bool:
        return S.NEW in statuses(await s.events(), coid)

    await until(new, "NEW")
    return coid


async def waiting_settled(s: Session) -> None:
    """Until what the adapter keeps for the bus has not grown for 0.4 s (a Binance
    status waits up to 0.25 s for its account event)."""
    seen, since = -1, 0.0
    loop = asyncio.get_running_loop()
    while True:
        if s.broker.unjournaled != seen:
            seen, since = s.broker.unjournaled, loop.time()
        elif loop.time() - since >= 0.4:
            return
        await asyncio.sleep(0.02)


def last_update_index(events: list[EventBase], coid: str) -> int:
    return max(
        n
        for n, e in enumerate(events)
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    )


async def filled_of(s: Session, coid: str) -> Decimal:
    orders, _ = replay_orders(await s.events())
    return orders[coid].filled_qty


async def test_a_fill_the_journal_refuses_is_written_once_it_takes_it(s: Session) -> None:
    """Redis refuses a fill's write (READONLY, OOM) for a while: the fill waits and is
    journaled once the bus takes it, and the FILLED it came with waits behind it.
    Before, the adapter had it journaled (a catch-up never asked for it again): the
    order FILLED with nothing filled, the position short of 0.5 ETH, nothing said.
    Counted meanwhile."""
    coid = await working(s)
    journal = Journal(s)
    journal.mode = "refuse"
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
    await waiting_settled(s)
    assert journal.refused
    events = await s.events()
    assert not fills(events)
    assert S.FILLED not in statuses(events, coid)  # never FILLED with nothing filled
    assert s.broker.unjournaled >= 1
    assert s.broker.health_state.errors["journal"] >= 1
    journal.mode = "take"  # the bus takes writes again

    async def filled() -> bool:
        return S.FILLED in statuses(await s.events(), coid)

    await until(filled, "FILLED")
    events = await s.events()
    assert [f.exec_id for f in fills(events)] == journal.refused[:1]
    assert s.broker.unjournaled == 0
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty) == (S.FILLED, D("0.5"))
    fill_at = next(n for n, e in enumerate(events) if isinstance(e, FillEvent))
    assert fill_at < last_update_index(events, coid)  # the fill, then its FILLED


async def test_a_fault_of_the_bus_s_own_does_not_end_the_writing_again(s: Session) -> None:
    """The first write again fails with an error that is not the bus's refusal: the
    fills still wait, in order, and are journaled once the bus takes them. Before, that
    error ended the task writing them again: the waiting fill and every fill after it
    (queued behind it) were never journaled, nothing said."""
    coid = await working(s, "1.0")
    order_id = s.fake.order_by_client_id(coid).order_id
    journal = Journal(s)
    journal.mode = "refuse"
    await s.fake.fill(order_id, "0.3")
    await until(lambda: s.broker.unjournaled >= 1, "the first fill refused")
    journal.mode = "fault"  # the next write again fails otherwise
    await until(lambda: journal.faults == 1, "the fault")
    await waiting_settled(s)
    before = s.broker.unjournaled
    await s.fake.fill(order_id, "0.7")  # behind the first
    await until(lambda: s.broker.unjournaled > before, "the second fill waiting")
    await waiting_settled(s)
    journal.mode = "take"

    async def both() -> bool:
        return len(fills(await s.events())) == 2

    await until(both, "both fills journaled")
    events = await s.events()
    assert [f.quantity for f in fills(events)] == [D("0.3"), D("0.7")]
    assert await filled_of(s, coid) == D("1.0")
    assert s.broker.unjournaled == 0


async def test_fills_waiting_are_in_health_until_journaled(s: Session) -> None:
    """The health pane says how many fills wait for the bus (a trader whose position
    reads short of a fill sees why), and nothing once they are journaled."""
    coid = await working(s)
    journal = Journal(s)
    journal.mode = "refuse"
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
    await waiting_settled(s)
    waiting = s.broker.unjournaled
    assert waiting >= 1
    await s.broker.publish_health()
    line = broker_line("binance", await heartbeat(s), s.broker.state, None, 0.0)
    assert line.unjournaled == waiting
    assert "journal" in line.errors
    pane = HealthPane().render_text([line], BUS, TradingState.ACTIVE).plain
    assert f"{waiting} fills or order updates not journaled: the bus refuses them" in pane
    journal.mode = "take"
    await until(lambda: s.broker.unjournaled == 0, "the fill journaled")
    await s.broker.publish_health()
    line = broker_line("binance", await heartbeat(s), s.broker.state, None, 0.0)
    assert line.unjournaled == 0
    pane = HealthPane().render_text([line], BUS, TradingState.ACTIVE).plain
    assert "not journaled" not in pane
    assert "errors " in pane  # (what was counted stays counted)


async def heartbeat(s: Session) -> ComponentHealth:
    """The broker's last health event as a desk reads it from the bus."""
    entries = [e for e in await s.bus.read(s.bus.layout.health) if e.ok]
    said = entries[-1].event.payload  # type: ignore[union-attr]
    assert isinstance(said, Health)
    return ComponentHealth(said.component, said.state, said.message, dict(said.metrics), 0)


BUS = BusLine("memory", "", True, None, 0.0, 0.0, 0, 0, 0, "")


async def test_closing_writes_waiting_fills_once_more_and_says_what_is_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On close, the task writing fills again is stopped (before, it ran on after the
    broker closed), each waiting fill is tried once more, and what is still refused is
    logged with its exec ids (the venue holds it: the next start's catch-up asks for the
    fills after the last one journaled)."""
    caplog.set_level(logging.INFO, logger="silvertine_tui")
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        coid = await working(s, "1.0")
        order_id = s.fake.order_by_client_id(coid).order_id
        journal = Journal(s)
        journal.mode = "refuse"
        trades = [await s.fake.fill(order_id, "0.4"), await s.fake.fill(order_id, "0.6")]
        await waiting_settled(s)
        retry = s.broker._kept._task
        assert retry is not None
        assert not retry.done()
        await s.broker.close()
        assert retry.done()
        said = next(
            r for r in caplog.records if r.getMessage() == "broker.reports_not_journaled_at_close"
        )
        reports: list[str] = said.reports  # type: ignore[attr-defined]
        assert said.count == len(reports)  # type: ignore[attr-defined]
        assert [r for r in reports if r.startswith("fill")] == [
            f"fill ETHUSDT-{t.trade_id}" for t in trades
        ]
        assert not fills(await s.events())


async def test_a_status_binance_reported_that_the_journal_refuses_is_written_later(
    s: Session,
) -> None:
    """The fill goes in, the FILLED status after it is refused (Redis READONLY). The
    status was lost: it was raised in the task that publishes statuses once their
    balances come, the order read NEW with all of it filled, nothing said. It is kept
    and written once the bus takes it."""
    coid = await working(s)
    redis = RefusedWrites(
        s.bus,
        lambda event: isinstance(event, OrderUpdateEvent) and event.payload.status is S.FILLED,
    )
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
    await until(lambda: bool(redis.refused), "the FILLED refused")
    await waiting_settled(s)
    events = await s.events()
    assert [f.quantity for f in fills(events)] == [D("0.5")]
    assert S.FILLED not in statuses(events, coid)
    assert s.broker.unjournaled == 1
    redis.refusing = False

    async def filled() -> bool:
        return S.FILLED in statuses(await s.events(), coid)

    await until(filled, "FILLED written")
    assert statuses(await s.events(), coid).count(S.FILLED) == 1
    assert s.broker.unjournaled == 0
