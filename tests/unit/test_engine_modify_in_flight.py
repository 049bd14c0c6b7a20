"""Changes of a working order sent back to back, before the first is read back.

The modify dialog sends only the field the trader typed. A change is answered by the
venue before the engine's reader has the answer from the bus, and the next change of
the same order may go at once. Judged against the order as the OMS still held it (its
terms before the first change), two changes passed max_notional together: a quantity
change (0.01552 at 64,350.00: 998.67) and then a price change (judged 0.01 at
64,935.00: 649.35) left 0.01552 at 64,935.00 (1,007.79) working at the venue. And a
second change the venue refused took the first change's raise out of the gate's count:
the order counted at its old quantity, and a new order passed max_position.

The engine keeps each change sent and not yet read back; a change is judged from the
newest terms sent (and every other terms the order may stand at), and the gate counts
an order at the largest quantity it may work at."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, Side
from silvertine_tui.engine import Session
from silvertine_tui.engine.commands import (
    Accepted,
    EngineGateway,
    Failed,
    ModifyOrder,
    PlaceOrder,
    Refused,
)
from silvertine_tui.events import ModifyRequestEvent
from tests.support.paper_session import paper_broker, paper_session, resting_buy
from tests.support.waiting import until

KEY = "BTCUSDT.PAPER"
MAX_NOTIONAL = D("1000")
MAX_POSITION = D("0.04")


def limits(**rules: str | None) -> RiskConfig:
    defaults: dict[str, str | None] = {"price_collar_pct": None, "max_orders_per_s": None}
    defaults.update(rules)
    return RiskConfig.model_validate({"defaults": defaults})


def venue_terms(session: Session, cid: str) -> tuple[D, D | None]:
    order = paper_broker(session).venue.order(cid)
    assert order is not None
    return order.quantity, order.limit_price


def working_buys_at_venue(session: Session) -> D:
    return sum(
        (
            o.quantity - o.filled_qty
            for o in paper_broker(session).venue.open_orders(KEY)
            if o.side is Side.BUY
        ),
        D(0),
    )


def gate_counts(session: Session) -> D:
    return session.engine.working_quantity("paper", "main", KEY, Side.BUY)


async def resting(session: Session, gateway: EngineGateway, quantity: str = "0.01") -> str:
    request = resting_buy(session).model_copy(update={"quantity": D(quantity)})
    placed = await gateway.send(PlaceOrder(request=request))
    assert isinstance(placed, Accepted), placed
    cid = request.client_order_id
    await until(
        lambda: (
            (v := session.engine.oms.get(cid)) is not None and v.order.status is OrderStatus.NEW
        ),
        what="the order read back NEW",
    )
    return cid


async def caught_up(session: Session) -> None:
    """Until the engine has applied everything journaled so far."""
    stream = session.bus.layout.exec("paper", "main")
    last = (await session.bus.read(stream))[-1].id
    await until(lambda: session.engine.applied.get(stream) == last, what="the journal read back")


def oms_terms(session: Session, cid: str) -> tuple[D, D | None]:
    view = session.engine.oms.get(cid)
    assert view is not None
    return view.order.quantity, view.order.limit_price


async def test_a_quantity_then_a_price_change_back_to_back_never_pass_max_notional() -> None:
    """0.01 @ 64,350.00 (643.50); to 0.01552 (998.67: accepted), then at once to
    64,935.00: with the new quantity 1,007.79 > 1,000, refused. Judged at the old
    quantity (649.35), it went, and the order worked at 1,007.79."""
    async with paper_session(MemoryBus(), ack_s=0.01) as session:
        session.engine.gate.config = limits(max_notional=str(MAX_NOTIONAL))
        gateway = EngineGateway(session.engine)
        cid = await resting(session, gateway)
        assert venue_terms(session, cid) == (D("0.01"), D("64350.00"))
        first = await gateway.send(ModifyOrder(client_order_id=cid, quantity=D("0.01552")))
        second = await gateway.send(ModifyOrder(client_order_id=cid, limit_price=D("64935.00")))
        assert isinstance(first, Accepted), first
        assert isinstance(second, Refused), second
        assert second.source == "risk"
        assert "max_notional: notional 1,007.79 USDT > max 1,000.00" in second.reason
        quantity, price = venue_terms(session, cid)
        assert (quantity, price) == (D("0.01552"), D("64350.00"))
        assert price is not None
        assert quantity * price <= MAX_NOTIONAL


async def test_a_price_change_after_a_quantity_change_sends_only_the_price() -> None:
    """What the trader typed is what goes: the price change's request carries no
    quantity (the venue keeps the one the first change gave it), and the order works
    at both changes' terms."""
    async with paper_session(MemoryBus(), ack_s=0.01) as session:
        session.engine.gate.config = limits(max_notional=str(MAX_NOTIONAL))
        gateway = EngineGateway(session.engine)
        cid = await resting(session, gateway)
        first = await gateway.send(ModifyOrder(client_order_id=cid, quantity=D("0.015")))
        second = await gateway.send(ModifyOrder(client_order_id=cid, limit_price=D("64500.00")))
        assert isinstance(first, Accepted), first
        assert isinstance(second, Accepted), second
        assert venue_terms(session, cid) == (D("0.015"), D("64500.00"))
        events = await session.bus.read(session.bus.layout.exec("paper", "main"))
        sent = [
            (e.event.payload.quantity, e.event.payload.limit_price)
            for e in events
            if isinstance(e.event, ModifyRequestEvent)
        ]
        assert sent == [(D("0.015"), None), (None, D("64500.00"))]
        await caught_up(session)
        assert oms_terms(session, cid) == (D("0.015"), D("64500.00"))


async def test_a_refused_second_change_keeps_the_first_changes_raise_counted() -> None:
    """max_position 0.04, a resting buy 0.01 raised to 0.03 (accepted), then at once to
    0.0200001 (off the lot: the venue refuses it). The refusal took the raise out of
    the gate's count with it: a new buy of 0.02 passed, 0.05 working to buy."""
    async with paper_session(MemoryBus(), ack_s=0) as session:
        session.engine.gate.config = limits(max_position=str(MAX_POSITION))
        gateway = EngineGateway(session.engine)
        cid = await resting(session, gateway)
        raised = await gateway.send(ModifyOrder(client_order_id=cid, quantity=D("0.03")))
        assert isinstance(raised, Accepted), raised
        assert gate_counts(session) == D("0.03")
        refused = await gateway.send(ModifyOrder(client_order_id=cid, quantity=D("0.0200001")))
        assert isinstance(refused, Failed), refused
        assert gate_counts(session) == D("0.03")
        new = resting_buy(session).model_copy(update={"quantity": D("0.02")})
        outcome = await gateway.send(PlaceOrder(request=new))
        assert isinstance(outcome, Refused), outcome
        assert "max_position" in outcome.reason
        assert working_buys_at_venue(session) == D("0.03")


async def test_a_lowered_quantity_frees_room_once_read_back() -> None:
    """A change is counted until the OMS reads it back, then no longer: 0.01 raised to
    0.03 and lowered to 0.01 again, both read back, leaves room for a buy of 0.03
    under max_position 0.04."""
    async with paper_session(MemoryBus(), ack_s=0) as session:
        session.engine.gate.config = limits(max_position=str(MAX_POSITION))
        gateway = EngineGateway(session.engine)
        cid = await resting(session, gateway)
        for quantity in ("0.03", "0.01"):
            outcome = await gateway.send(ModifyOrder(client_order_id=cid, quantity=D(quantity)))
            assert isinstance(outcome, Accepted), outcome
        await caught_up(session)
        assert oms_terms(session, cid) == venue_terms(session, cid) == (D("0.01"), D("64350.00"))
        assert gate_counts(session) == D("0.01")
        new = resting_buy(session).model_copy(update={"quantity": D("0.03")})
        outcome = await gateway.send(PlaceOrder(request=new))
        assert isinstance(outcome, Accepted), outcome


# -- any sequence of changes, sent back to back -----------------------------------------


@dataclass(frozen=True)
class Change:
    target: int  # which working order (modulo how many)
    quantity: D | None
    price_step: int | None  # ticks of 5.00 from 64,350.00; 999: off the tick (refused)


@dataclass(frozen=True)
class NewBuy:
    quantity: D


@dataclass(frozen=True)
class ReadBack:
    pass


# 0.0155 is under max_notional at 64,350.00 (997.43) and over it at 64,650.00
# (1,002.08); 0.03 and 0.035 are over max_position with another buy working.
QUANTITIES = [D("0.005"), D("0.01"), D("0.0155"), D("0.02"), D("0.03"), D("0.035")]
OFF_LOT = D("0.0200001")  # the venue refuses it

changes = st.builds(
    Change,
    target=st.integers(min_value=0, max_value=3),
    quantity=st.none() | st.sampled_from([*QUANTITIES, OFF_LOT]),
    price_step=st.none() | st.sampled_from([-20, 0, 30, 60, 100, 999]),
).filter(lambda c: c.quantity is not None or c.price_step is not None)
steps = st.lists(
    st.one_of(
        changes,
        changes,
        changes,
        st.builds(NewBuy, st.sampled_from([D("0.005"), D("0.01"), D("0.015")])),
        st.just(ReadBack()),
    ),
    min_size=1,
    max_size=8,
)


def price_of(step: int) -> D:
    if step == 999:
        return D("64400.005")  # off the 0.01 tick: the venue refuses it
    return D("64350.00") + 5 * step  # below the mid (65,000): it rests


async def run_steps(script: list[Change | NewBuy | ReadBack]) -> None:
    async with paper_session(MemoryBus(), ack_s=0) as session:
        session.engine.gate.config = limits(
            max_notional=str(MAX_NOTIONAL), max_position=str(MAX_POSITION)
        )
        gateway = EngineGateway(session.engine)
        venue = paper_broker(session).venue
        orders = [await resting(session, gateway)]
        for step in script:
            if isinstance(step, ReadBack):
                await caught_up(session)
                assert all(oms_terms(session, c) == venue_terms(session, c) for c in orders)
                # Read back: the gate counts what works at the venue, nothing more.
                assert gate_counts(session) == working_buys_at_venue(session)
            elif isinstance(step, NewBuy):
                request = resting_buy(session).model_copy(update={"quantity": step.quantity})
                outcome = await gateway.send(PlaceOrder(request=request))
                if isinstance(outcome, Accepted):
                    orders.append(request.client_order_id)
                    await caught_up(session)
            else:
                cid = orders[step.target % len(orders)]
                before = venue.order(cid)
                assert before is not None
                was = (before.quantity, before.limit_price)
                price = None if step.price_step is None else price_of(step.price_step)
                outcome = await gateway.send(
                    ModifyOrder(client_order_id=cid, quantity=step.quantity, limit_price=price)
                )
                now = venue_terms(session, cid)
                if isinstance(outcome, Accepted):
                    # What was typed is what went: the fields not typed are the venue's own.
                    assert now == (
                        step.quantity if step.quantity is not None else was[0],
                        price if price is not None else was[1],
                    )
                else:
                    assert isinstance(outcome, Refused | Failed), outcome
                    assert now == was
            for cid in orders:
                order = venue.order(cid)
                assert order is not None
                assert order.limit_price is not None
                assert order.quantity * order.limit_price <= MAX_NOTIONAL, (cid, order)
            assert working_buys_at_venue(session) <= MAX_POSITION
            # Never less than works at the venue, whatever is not read back yet.
            assert gate_counts(session) >= working_buys_at_venue(session)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(script=steps)
def test_changes_back_to_back_never_leave_an_order_beyond_the_limits(
    script: list[Change | NewBuy | ReadBack],
) -> None:
    """Any sequence of changes (some refused by the venue: off the lot, off the tick)
    and new buys, each sent the moment the one before is answered: no order ever works
    at the venue beyond max_notional, the buys working never pass max_position, and
    the gate never counts less than works at the venue (once everything is read back,
    exactly that)."""
    asyncio.run(run_steps(script))
