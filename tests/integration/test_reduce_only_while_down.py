"""REDUCE ONLY set while the desk driving a broker was down (quit with its orders left
working, or killed): the desk reads it as it starts and, when it never acted on it
(its last run had not read it, or its brokers were not heard from after it) and it is
still the standing state, honours it as a running desk does: once its brokers are up
it cancels its working orders that would add to a position, and says so in the Log
and a toast (`Session._state_while_down`), by the rules of a kill switch pulled while
a desk was down (tests/integration/test_kill_while_desk_down.py). Orders that reduce
stay; REDUCE ONLY the desk read while it ran is not honoured again; one lifted while
the desk was down cancels nothing.

Before, the desk came up REDUCE_ONLY with its adding orders still working at the
venue, and no word of them. On a real Redis, a bus per desk; the desk that sets the
state is a watching desk or a desk on another host (its own last-run record)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from silvertine_tui.domain import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from silvertine_tui.engine import Session
from silvertine_tui.engine.commands import SetTradingState
from tests.support.desks import (
    desk,
    logged_line,
    rest_and_leave,
    status,
    until,
    venue_working,
)
from tests.support.redis_server import RedisServer
from tests.support.while_down import (
    DOWN,
    down_lines,
    on_another_host,
    read_record,
    titled_alerts,
    watcher,
)

pytestmark = pytest.mark.redis

TITLE = "REDUCE ONLY set while this desk was down"
ADDING = "cancelled 1 order(s) that would add to a position"


def down_alerts(session: Session) -> list[tuple[str, str]]:
    return titled_alerts(session, TITLE)


def name(session: Session) -> str:
    return f"desk {session.claims.desk.host} pid {session.claims.desk.pid}"


def order(side: Side, kind: OrderType, price: str | None = None) -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=side,
        order_type=kind,
        quantity=Decimal("0.01"),
        limit_price=Decimal(price) if price is not None else None,
        tif=TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.GTC,
    )


async def long_with_two_resting(first: Session) -> tuple[str, str]:
    """`first` (a desk of `paper`, not started) buys 0.01 at the market, leaves a limit
    buy (it adds to the long) and a limit sell of the whole position (it reduces it)
    resting at its venue, and quits: (the buy's id, the sell's id)."""
    await first.start()
    engine = first.engine
    try:
        await engine.submit(order(Side.BUY, OrderType.MARKET))
        await until(lambda: engine.position("paper", "main", "BTCUSDT.PAPER") == Decimal("0.01"))
        buy = await engine.submit(order(Side.BUY, OrderType.LIMIT, "63000"))
        sell = await engine.submit(order(Side.SELL, OrderType.LIMIT, "67000"))
        await until(lambda: status(first, buy) is status(first, sell) is OrderStatus.NEW)
    finally:
        await first.close()
    return buy, sell


async def test_reduce_only_set_from_a_watcher_while_the_desk_was_down_cancels_what_adds(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The review's steps: a desk quits leaving a buy (it adds to the long) and a sell
    of the whole long (it reduces) working; a watching desk sets REDUCE ONLY; the desk
    starts again. The buy is cancelled at the venue, the sell stays, and the Log and a
    toast say why."""
    url = redis_server.url
    buy, sell = await long_with_two_resting(desk(url, key_prefix, "paper"))
    watch = watcher(url, key_prefix)
    restarted: Session | None = None
    try:
        await watch.start()
        await watch.command_gateway().send(SetTradingState(state=TradingState.REDUCE_ONLY))
        await until(lambda: watch.engine.gate.state is TradingState.REDUCE_ONLY)

        restarted = desk(url, key_prefix, "paper")
        await restarted.start()
        session = restarted
        assert session.engine.gate.state is TradingState.REDUCE_ONLY
        await until(lambda: status(session, buy) is OrderStatus.CANCELED)
        assert status(session, sell) is OrderStatus.NEW
        assert await venue_working(session) == [sell]
        said = await logged_line(session, DOWN)
        assert said.startswith(
            f"{name(session)}, after REDUCE ONLY set from watching desk "
            f"{watch.claims.desk.host} pid {watch.claims.desk.pid} at "
        ), said
        assert "(trading state REDUCE_ONLY)" in said, said
        assert said.endswith(f"Trading REDUCE ONLY; {ADDING}"), said
        await until(lambda: bool(down_alerts(session)))
        [(message, severity)] = down_alerts(session)
        assert message == f"{said}."
        assert severity == "warning"
    finally:
        await watch.close()
        if restarted is not None:
            await restarted.close()


async def test_reduce_only_set_while_the_desk_was_quit_is_honoured_once(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A desk on another host sets REDUCE ONLY while this desk is down: the next start
    cancels the buy it left (the position is flat: a buy adds); the start after it,
    whose last run read (and honoured) it, says nothing of it again."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    again: Session | None = None
    first = desk(url, key_prefix, "paper")
    try:
        report = await other.engine.set_trading_state(TradingState.REDUCE_ONLY)
        assert report.ok
        await first.start()
        assert first.engine.gate.state is TradingState.REDUCE_ONLY
        await until(lambda: status(first, cid) is OrderStatus.CANCELED)
        assert await venue_working(first) == []
        said = await logged_line(first, DOWN)
        assert f"after REDUCE ONLY set from {name(other)} at " in said, said
        assert said.endswith(f"Trading REDUCE ONLY; {ADDING}"), said
        await until(lambda: bool(down_alerts(first)))
        await first.close()

        again = desk(url, key_prefix, "paper")
        await again.start()
        assert again.engine.gate.state is TradingState.REDUCE_ONLY
        await asyncio.sleep(1.0)  # what an honour would have said by now
        assert down_alerts(again) == []
        assert len(await down_lines(again)) == 1  # the first start's, and no other
    finally:
        await first.close()
        if again is not None:
            await again.close()
        await other.close()


async def test_reduce_only_another_desk_of_this_host_read_is_honoured_by_the_desk_that_was_down(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Two desks on one host share the last-run record: the desk still running reads
    REDUCE ONLY into it. The desk that was down is told by the health stream that its
    broker was not heard from after it, and honours it all the same."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = desk(url, key_prefix, "p2")  # this host's too
    await other.start()
    starting = desk(url, key_prefix, "paper")
    try:
        await other.engine.set_trading_state(TradingState.REDUCE_ONLY)
        [entry] = await other.bus.read_last(other.bus.layout.risk, 1)
        await until(lambda: read_record(other.last_run.path).state_entry == entry.id)

        await starting.start()
        assert starting.engine.gate.state is TradingState.REDUCE_ONLY
        await until(lambda: status(starting, cid) is OrderStatus.CANCELED)
        assert await venue_working(starting) == []
        said = await logged_line(starting, DOWN)
        assert said.endswith(f"Trading REDUCE ONLY; {ADDING}"), said
    finally:
        await starting.close()
        await other.close()


async def test_reduce_only_the_desk_read_while_it_ran_is_not_honoured_again_at_its_start(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url = redis_server.url
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    running = desk(url, key_prefix, "paper")
    again: Session | None = None
    try:
        await running.start()
        await other.engine.set_trading_state(TradingState.REDUCE_ONLY)
        await logged_line(running, f"{name(running)}, after REDUCE ONLY on another desk")
        await running.close()  # its record holds the REDUCE ONLY it read

        again = desk(url, key_prefix, "paper")
        await again.start()
        assert again.engine.gate.state is TradingState.REDUCE_ONLY
        await asyncio.sleep(1.0)
        assert down_alerts(again) == []
        assert await down_lines(again) == []
    finally:
        await running.close()
        if again is not None:
            await again.close()
        await other.close()


async def test_reduce_only_lifted_by_a_resume_while_the_desk_was_down_cancels_nothing(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    starting = desk(url, key_prefix, "paper")
    try:
        await other.engine.set_trading_state(TradingState.REDUCE_ONLY)
        await other.engine.set_trading_state(TradingState.ACTIVE)
        await starting.start()
        assert starting.engine.gate.state is TradingState.ACTIVE
        await asyncio.sleep(1.0)  # what an honour would have cancelled by now
        assert status(starting, cid) is OrderStatus.NEW
        assert await venue_working(starting) == [cid]
        assert down_alerts(starting) == []
        assert await down_lines(starting) == []
    finally:
        await starting.close()
        await other.close()


async def test_a_kill_lifted_to_reduce_only_while_the_desk_was_down_cancels_what_adds_only(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A KILL, then REDUCE ONLY, both while the desk was down: the KILL was lifted (its
    cancels are not made: the sell that reduces stays) and REDUCE ONLY is the standing
    state the desk never read (the buy that adds is cancelled). One line, REDUCE ONLY's;
    none of the kill switch's."""
    url = redis_server.url
    buy, sell = await long_with_two_resting(desk(url, key_prefix, "paper"))
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    starting = desk(url, key_prefix, "paper")
    try:
        await other.engine.kill("drill, then reduce only")
        await other.engine.set_trading_state(TradingState.REDUCE_ONLY)
        await starting.start()
        assert starting.engine.gate.state is TradingState.REDUCE_ONLY
        await until(lambda: status(starting, buy) is OrderStatus.CANCELED)
        assert status(starting, sell) is OrderStatus.NEW
        assert await venue_working(starting) == [sell]
        said = await logged_line(starting, DOWN)
        assert f"after REDUCE ONLY set from {name(other)} at " in said, said
        assert said.endswith(f"Trading REDUCE ONLY; {ADDING}"), said
        assert [line for line in await down_lines(starting) if "kill switch" in line] == []
    finally:
        await starting.close()
        await other.close()
