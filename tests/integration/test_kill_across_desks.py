"""The kill switch pulled on one desk cancels the working orders of every desk on the
bus: each desk drives its own brokers (engine/claims.py), so each cancels its own on
any desk's KILL (`TradingEngine.honour_kill`). On a real Redis, a bus per desk."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.domain import OrderStatus, TradingState
from tests.support.desks import desk, log_messages, logged_line, resting_buy, status, until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


async def test_a_kill_on_one_desk_cancels_every_desks_working_orders(
    redis_server: RedisServer, key_prefix: str
) -> None:
    a = desk(redis_server.url, key_prefix, "paper")
    b = desk(redis_server.url, key_prefix, "paper2")
    await a.start()
    await b.start()
    try:
        on_a = await resting_buy(a, "paper")
        on_b = await resting_buy(b, "paper2")
        await until(lambda: status(a, on_a) is OrderStatus.NEW)
        await until(lambda: status(b, on_b) is OrderStatus.NEW)

        report = await b.engine.kill("drill on desk B")
        assert report.cancelled == (on_b,)  # what desk B drives
        # Desk A reads the KILL, halts and cancels what it drives.
        await until(lambda: status(a, on_a) is OrderStatus.CANCELED)
        assert a.engine.gate.state is TradingState.HALTED
        # And says so in the log every desk reads, naming itself.
        name_a = f"desk {a.claims.desk.host} pid {a.claims.desk.pid}"
        # The KILL itself names the desk that pulled it.
        name_b = f"desk {b.claims.desk.host} pid {b.claims.desk.pid}"
        line = await logged_line(a, "after a kill switch on another desk (drill on desk B")
        assert line == (
            f"{name_a}, after a kill switch on another desk (drill on desk B by {name_b}): "
            "Trading HALTED; cancelled 1 order(s)."
        )
        # Desk B's own KILL, read back, is not acted on there: no second such line.
        risk = b.bus.layout.risk
        kill_id = (await b.bus.read_last(risk, 1))[0].id
        await until(lambda: b.engine.applied.get(risk) == kill_id)
        await until(lambda: a.engine.applied.get(risk) == kill_id)
        await asyncio.sleep(0.3)
        after = [m for m in await log_messages(b) if "after a kill switch on another desk" in m]
        assert after == [line]  # desk A's alone

        # A RESUME on desk A (not the desk that killed) lifts HALTED on both.
        await a.engine.resume()
        await until(lambda: b.engine.gate.state is TradingState.ACTIVE)
        assert a.engine.gate.state is TradingState.ACTIVE
        # The other way round: killed on A, resumed on B.
        await a.engine.kill("drill on desk A")
        await until(lambda: b.engine.gate.state is TradingState.HALTED)
        await until(lambda: a.engine.applied.get(risk) == b.engine.applied.get(risk))
        await b.engine.resume()
        await until(lambda: a.engine.gate.state is TradingState.ACTIVE)
        again = await resting_buy(a, "paper")
        await until(lambda: status(a, again) is OrderStatus.NEW)
    finally:
        await a.close()
        await b.close()

    # A restart of desk A replays the old KILL without acting on it: the order it left
    # working stays working.
    restarted = desk(redis_server.url, key_prefix, "paper")
    await restarted.start()
    try:
        await asyncio.sleep(0.5)
        assert status(restarted, again) is OrderStatus.NEW
        assert restarted.engine.kill_from_elsewhere == ""
        assert restarted.engine.gate.state is TradingState.ACTIVE
    finally:
        await restarted.close()


async def test_orders_sent_while_another_desks_kill_is_honoured_are_not_cancelled_by_it(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """`cancel_everywhere(exclude=...)`: what the engine records as sent while it honours
    another desk's kill (a RESUME read meanwhile) is left working; the rest goes."""
    from silvertine_tui.engine.cancels import cancel_everywhere

    a = desk(redis_server.url, key_prefix, "paper")
    await a.start()
    try:
        before = await resting_buy(a, "paper")
        after = await resting_buy(a, "paper")
        await until(lambda: status(a, before) is OrderStatus.NEW)
        await until(lambda: status(a, after) is OrderStatus.NEW)
        engine = a.engine
        report = await cancel_everywhere(
            engine.brokers.values(), engine.oms, delays=(), exclude={after}
        )
        assert report.cancelled == (before,)
        await until(lambda: status(a, before) is OrderStatus.CANCELED)
        assert status(a, after) is OrderStatus.NEW
        # What the engine records while it honours a kill: ids sent meanwhile.
        engine._honouring += 1
        try:
            meanwhile = await resting_buy(a, "paper")
            assert meanwhile in engine._sent_while_honouring
        finally:
            engine._honouring -= 1
    finally:
        await a.close()


async def test_a_kill_on_another_desk_takes_an_order_on_its_way_here(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Desk A's order is on its way to its venue (its place unanswered) when desk B's
    kill switch is read on A: it is cancelled once the venue has it, not left working
    after HALTED (nor journaled REJECTED by the reconcile after the cancels)."""
    a = desk(redis_server.url, key_prefix, "paper", ack_ms=400)
    b = desk(redis_server.url, key_prefix, "paper2")
    await a.start()
    await b.start()
    try:
        sending = asyncio.create_task(resting_buy(a, "paper"))
        await until(lambda: bool(a.engine.in_flight.now()))
        await b.engine.kill("drill on desk B")
        on_a = await sending
        await until(lambda: status(a, on_a) is OrderStatus.CANCELED)
        assert a.engine.gate.state is TradingState.HALTED
        assert await a.brokers[0].open_orders() == []
    finally:
        await a.close()
        await b.close()
