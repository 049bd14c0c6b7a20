"""A watching desk (`silvertine watch`, engine/watch.py) on a real Redis: it shows what
the driving desks do, drawn from the streams; it sends no order and writes nothing of
its own (proved under a Redis user that may only read); its kill switch halts every
desk and each cancels its own orders; a desk started after it is taken on."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.commands import (
    Accepted,
    CancelAll,
    CancelOrder,
    Failed,
    Kill,
    KillDone,
    ModifyOrder,
    PlaceOrder,
    Refused,
    Resume,
    SetTradingState,
)
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.engine.session import Alert
from silvertine_tui.engine.watch import WATCHING, WatchSession, journal_accounts
from tests.support.desks import desk, desk_settings, logged_line, resting_buy, status, until
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis


def watcher(url: str, prefix: str, *, discover_every_s: float = 2.0) -> WatchSession:
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    return WatchSession(settings, bus=bus, discover_every_s=discover_every_s)


def desk_state(view: DeskProjection) -> dict[str, object]:
    """What the Orders, Positions and Balances panes and the header show."""
    return {
        "orders": {
            cid: (
                v.broker,
                v.order.status,
                v.order.filled_qty,
                v.order.avg_price,
                v.order.request.quantity,
            )
            for cid, v in view.orders.items()
        },
        "positions": {k: (p.quantity, p.avg_price) for k, p in view.positions.items()},
        "balances": {k: (b.total, b.available) for k, b in view.balances.items()},
        "trading": view.trading_state,
    }


async def crossing_buy(session: Session) -> str:
    """A limit buy above the paper book's ask (the feed's 65,000; inside the 5%
    price collar): it fills."""
    from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce

    return await session.engine.submit(
        OrderRequest(
            broker=session.brokers[0].name,
            account="main",
            instrument="BTCUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("0.02"),
            limit_price=Decimal("67000"),
            tif=TimeInForce.IOC,
        )
    )


def test_journal_accounts_are_read_from_the_execution_streams() -> None:
    streams = [
        "p:exec:paper:main",
        "p:exec:binance:spot",
        "p:md:paper",
        "p:health",
        "p:exec:bad",  # no account
        "q:exec:paper:main",  # another prefix
        "p:exec:paper:main",
    ]
    assert journal_accounts(streams, "p") == [("binance", "spot"), ("paper", "main")]


async def test_a_watching_desk_shows_what_the_driving_desk_does(
    redis_server: RedisServer, key_prefix: str
) -> None:
    driver = desk(redis_server.url, key_prefix, "paper")
    await driver.start()
    watch = watcher(redis_server.url, key_prefix)
    try:
        resting = await resting_buy(driver, "paper")
        filled = await crossing_buy(driver)
        await until(lambda: status(driver, resting) is OrderStatus.NEW)
        await until(lambda: status(driver, filled) is OrderStatus.FILLED)
        await watch.start()
        assert watch.accounts() == [("paper", "main")]
        await until(lambda: desk_state(watch.projection) == desk_state(driver.projection))
        assert watch.projection.broker_state("paper") is driver.projection.broker_state("paper")
        assert watch.projection.instrument("paper", "BTCUSDT.PAPER") is not None

        # What happens after it started: a new order, a cancel, a trading state (which
        # cancels the new buy: it would add to the position the crossing buy took).
        later = await resting_buy(driver, "paper")
        await until(lambda: status(driver, later) is OrderStatus.NEW)
        await until(lambda: desk_state(watch.projection) == desk_state(driver.projection))
        assert desk_state(watch.projection)["orders"][later][1] is OrderStatus.NEW  # type: ignore[index]
        await driver.engine.cancel(resting)
        await driver.engine.set_trading_state(TradingState.REDUCE_ONLY)
        await until(lambda: status(driver, resting) is OrderStatus.CANCELED)
        await until(lambda: status(driver, later) is OrderStatus.CANCELED)
        await until(lambda: desk_state(watch.projection) == desk_state(driver.projection))
        state = desk_state(watch.projection)
        assert state["trading"] is TradingState.REDUCE_ONLY
        orders = state["orders"]
        assert isinstance(orders, dict)
        assert orders[later][1] is OrderStatus.CANCELED
        assert orders[resting][1] is OrderStatus.CANCELED
    finally:
        await watch.close()
        await driver.close()


async def test_a_watching_desk_sends_nothing_and_writes_nothing(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Under a Redis user that may read the prefix and nothing else: the watching desk
    starts, follows and shows the driving desk; every order action is refused with rule
    `watching` before anything is sent; its kill switch fails to journal and says that
    nothing was cancelled anywhere (the driving desk's order still works)."""
    user, password = f"watch-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    command(
        redis_server.host,
        redis_server.port,
        *("ACL", "SETUSER", user, "on", f">{password}", f"~{key_prefix}:*"),
        *("+@read", "+ping", "+info"),
    )
    url = f"redis://{user}:{password}@{redis_server.host}:{redis_server.port}/0"
    driver = desk(redis_server.url, key_prefix, "paper")
    await driver.start()
    watch = watcher(url, key_prefix)
    try:
        resting = await resting_buy(driver, "paper")
        await until(lambda: status(driver, resting) is OrderStatus.NEW)
        await watch.start()
        await until(lambda: desk_state(watch.projection) == desk_state(driver.projection))
        assert watch.engine.not_ready_rule == WATCHING

        client = aioredis.Redis.from_url(redis_server.url)
        stream = driver.bus.layout.exec("paper", "main")
        entries = await client.xlen(stream)
        risk = await client.xlen(driver.bus.layout.risk)
        gateway = watch.command_gateway()
        request = driver.engine.oms.orders[resting].order.request.model_copy(
            update={"client_order_id": "st000000000000009999"}
        )
        for action in (
            PlaceOrder(request=request),
            CancelOrder(client_order_id=resting),
            ModifyOrder(client_order_id=resting, quantity=Decimal("0.02")),
            CancelAll(),
        ):
            outcome = await gateway.send(action)
            assert isinstance(outcome, Refused), action
            assert [p.rule for p in outcome.problems] == [WATCHING]
            assert "sends no order" in outcome.reason

        watch.engine.retry_delays = (0.0,)
        outcome = await gateway.send(Kill(reason="drill on the watching desk"))
        assert isinstance(outcome, KillDone)
        assert not outcome.report.ok
        assert "NoPermissionError" in outcome.report.journal_error
        assert outcome.report.summary().startswith("The KILL was NOT journaled")
        assert "nothing was cancelled" in outcome.report.summary()
        await asyncio.sleep(0.3)
        assert status(driver, resting) is OrderStatus.NEW
        assert driver.engine.gate.state is TradingState.ACTIVE
        assert await client.xlen(stream) == entries
        assert await client.xlen(driver.bus.layout.risk) == risk
        await client.aclose()
    finally:
        await watch.close()
        await driver.close()


async def test_a_kill_on_the_watching_desk_halts_and_cancels_every_desk(
    redis_server: RedisServer, key_prefix: str
) -> None:
    a = desk(redis_server.url, key_prefix, "paper")
    b = desk(redis_server.url, key_prefix, "paper2")
    await a.start()
    await b.start()
    watch = watcher(redis_server.url, key_prefix)
    try:
        on_a = await resting_buy(a, "paper")
        on_b = await resting_buy(b, "paper2")
        await until(lambda: status(a, on_a) is OrderStatus.NEW)
        await until(lambda: status(b, on_b) is OrderStatus.NEW)
        await watch.start()
        assert watch.accounts() == [("paper", "main"), ("paper2", "main")]
        gateway = watch.command_gateway()

        outcome = await gateway.send(Kill(reason="risk manager's drill"))
        assert isinstance(outcome, KillDone)
        assert outcome.report.ok
        assert outcome.report.summary().startswith("Trading HALTED on every desk on this bus")
        await until(lambda: status(a, on_a) is OrderStatus.CANCELED)
        await until(lambda: status(b, on_b) is OrderStatus.CANCELED)
        assert a.engine.gate.state is TradingState.HALTED
        assert b.engine.gate.state is TradingState.HALTED
        for session in (a, b):
            name = f"desk {session.claims.desk.host} pid {session.claims.desk.pid}"
            line = await logged_line(session, f"{name}, after a kill switch on another desk")
            # The KILL names the watching desk that pulled it.
            watching = f"watching desk {watch.claims.desk.host} pid {watch.claims.desk.pid}"
            assert line.endswith(
                f"(risk manager's drill by {watching}): Trading HALTED; cancelled 1 order(s)."
            )
        # The watching desk shows what the desks did.
        await until(lambda: watch.projection.working_count() == 0)
        await until(lambda: watch.projection.trading_state is TradingState.HALTED)

        assert await gateway.send(Resume()) is not None
        await until(lambda: a.engine.gate.state is TradingState.ACTIVE)
        await until(lambda: b.engine.gate.state is TradingState.ACTIVE)
        again = await resting_buy(a, "paper")
        await until(lambda: status(a, again) is OrderStatus.NEW)
    finally:
        await watch.close()
        await a.close()
        await b.close()


async def test_reduce_only_on_the_watching_desk_cancels_what_would_add_on_the_desk(
    redis_server: RedisServer, key_prefix: str
) -> None:
    driver = desk(redis_server.url, key_prefix, "paper")
    await driver.start()
    watch = watcher(redis_server.url, key_prefix)
    try:
        filled = await crossing_buy(driver)  # long: a resting buy would add to it
        await until(lambda: status(driver, filled) is OrderStatus.FILLED)
        adding = await resting_buy(driver, "paper")
        await until(lambda: status(driver, adding) is OrderStatus.NEW)
        await watch.start()

        outcome = await watch.command_gateway().send(
            SetTradingState(state=TradingState.REDUCE_ONLY)
        )
        assert outcome == Accepted()  # the watcher cancels nothing itself: no report
        await until(lambda: status(driver, adding) is OrderStatus.CANCELED)
        assert driver.engine.gate.state is TradingState.REDUCE_ONLY
        name = f"desk {driver.claims.desk.host} pid {driver.claims.desk.pid}"
        line = await logged_line(driver, f"{name}, after REDUCE ONLY on another desk")
        assert line.endswith("cancelled 1 order(s) that would add to a position.")
        await until(lambda: watch.projection.working_count() == 0)
    finally:
        await watch.close()
        await driver.close()


async def test_a_desk_started_after_the_watching_desk_is_taken_on(
    redis_server: RedisServer, key_prefix: str
) -> None:
    watch = watcher(redis_server.url, key_prefix, discover_every_s=0.1)
    told: list[list[tuple[str, str]]] = []
    watch.on_new_accounts(told.append)
    await watch.start()  # nothing under the prefix yet
    driver = desk(redis_server.url, key_prefix, "paper")
    try:
        assert watch.accounts() == []
        await driver.start()
        first = await resting_buy(driver, "paper")
        await until(lambda: watch.accounts() == [("paper", "main")])
        assert told == [[("paper", "main")]]
        titles = [(a.title, a.message) for a in watch.alerts]
        assert titles == [
            ("Watching: no desk yet", titles[0][1]),
            ("Watching", "a desk started on this prefix: watching paper/main"),
        ]
        await until(lambda: desk_state(watch.projection) == desk_state(driver.projection))
        assert first in watch.projection.orders
        # Followed from there on.
        second = await resting_buy(driver, "paper")
        await until(lambda: second in watch.projection.orders)
        await until(lambda: desk_state(watch.projection) == desk_state(driver.projection))
    finally:
        await driver.close()
        await watch.close()


async def test_a_passive_bus_takes_the_first_epoch_as_its_own_and_reports_a_later_loss(
    key_prefix: str,
) -> None:
    """Started before any desk wrote the prefix's epoch key, the watching desk takes the
    first one as the epoch (no data loss); a replaced epoch is a loss, told to the
    trader (`alerts`)."""
    with RedisServer() as server:
        watch = watcher(server.url, key_prefix)
        await watch.start()
        assert [a.title for a in watch.alerts] == ["Watching: no desk yet"]
        assert f"prefix {key_prefix} on {server.url}" in watch.alerts[0].message
        watch.alerts.clear()
        try:
            driver_settings = desk_settings(server.url, key_prefix, "paper")
            driver = Session(driver_settings)
            await driver.start()
            await driver.close()
            await asyncio.sleep(0.5)  # several epoch checks
            assert watch.bus.stats.data_loss_detected == 0

            def losses() -> list[Alert]:
                return [a for a in watch.alerts if a.title == "Redis lost data"]

            assert losses() == []
            epoch = f"{key_prefix}:epoch"
            command(server.host, server.port, "SET", epoch, "another-epoch")
            await until(lambda: watch.bus.stats.data_loss_detected == 1)
            await until(lambda: len(losses()) == 1)
            assert losses()[0].severity == "error"
            assert "rebuilt what it shows from what the journal holds now" in losses()[0].message
            # And it keeps watching: the next loss is told too.
            command(server.host, server.port, "SET", epoch, "a-third-epoch")
            await until(lambda: watch.bus.stats.data_loss_detected == 2)
            await until(lambda: len(losses()) == 2)
            # It wrote nothing: the key is as the test set it.
            epoch_value = command(server.host, server.port, "GET", epoch)
            assert epoch_value.endswith(b"a-third-epoch\r\n")
        finally:
            await watch.close()


async def test_a_desk_that_starts_is_taken_on_from_its_health_not_a_timer(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """No SCAN every few seconds over a shared Redis: the new desk's broker on the health
    stream asks for a listing at once."""
    watch = watcher(redis_server.url, key_prefix, discover_every_s=600)
    await watch.start()
    driver = desk(redis_server.url, key_prefix, "paper")
    try:
        await driver.start()
        cid = await resting_buy(driver, "paper")
        await until(lambda: cid in watch.projection.orders, timeout=10)
        assert watch.accounts() == [("paper", "main")]
    finally:
        await driver.close()
        await watch.close()


async def test_what_stops_a_watching_desk_is_told(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """A desk it cannot take on (its market data key clobbered by something else) is
    told and given up, and the next desk is still taken on; a listener that fails stops
    nothing; a reader that fails (its journal key clobbered) is told: what the desk
    shows is frozen."""
    watch = watcher(redis_server.url, key_prefix, discover_every_s=0.1)
    told: list[list[tuple[str, str]]] = []

    def listener(accounts: list[tuple[str, str]]) -> None:
        told.append(accounts)
        raise RuntimeError("a listener that fails")

    watch.on_new_accounts(listener)
    await watch.start()
    broken = desk(redis_server.url, key_prefix, "paper")
    good = desk(redis_server.url, key_prefix, "paper2")
    market = broken.bus.layout.md("paper")
    command(redis_server.host, redis_server.port, "SET", market, "not a stream")
    try:
        await broken.start()
        await until(lambda: any(a.title == "Watching: a desk not shown" for a in watch.alerts))
        shown = [a for a in watch.alerts if a.title == "Watching: a desk not shown"]
        assert len(shown) == 1
        assert "could not take on paper/main" in shown[0].message
        assert "start `silvertine watch` again" in shown[0].message
        assert watch.accounts() == []

        await good.start()
        cid = await resting_buy(good, "paper2")
        await until(lambda: cid in watch.projection.orders)
        assert watch.accounts() == [("paper2", "main")]
        assert told == [[("paper2", "main")]]  # it failed, and the desk went on

        # The journal it follows, clobbered: the reader fails, and says so.
        stream = good.bus.layout.exec("paper2", "main")
        command(redis_server.host, redis_server.port, "DEL", stream)
        command(redis_server.host, redis_server.port, "SET", stream, "not a stream")
        await until(lambda: any(a.title == "Watching stopped" for a in watch.alerts))
        stopped = [a for a in watch.alerts if a.title == "Watching stopped"]
        assert "what it shows is frozen from here" in stopped[0].message
    finally:
        command(redis_server.host, redis_server.port, "DEL", market)
        await good.close()
        await broken.close()
        await watch.close()


async def test_the_risk_actions_of_a_watching_desk_without_redis_say_nothing_went(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        driver = desk(server.url, key_prefix, "paper")
        await driver.start()
        await driver.close()
        watch = watcher(server.url, key_prefix)
        await watch.start()
        try:
            gateway = watch.command_gateway()
            watch.engine.retry_delays = ()
            await server.akill()
            first = await gateway.send(Kill(reason="drill"))
            # Either it knew Redis was gone (nothing sent), or the bus kept the KILL in
            # memory: neither is called done.
            if isinstance(first, KillDone):
                assert not first.report.ok
                assert "The KILL was NOT journaled (Redis is unreachable" in (
                    first.report.summary()
                )
            else:
                assert isinstance(first, Failed)
            await until(lambda: not watch.bus.stats.connected)
            for action in (Kill(reason="drill"), Resume()):
                outcome = await gateway.send(action)
                assert isinstance(outcome, Failed), action
                assert outcome.error.startswith("Redis is unreachable from this watching desk")
                assert "no desk has seen it" in outcome.error
        finally:
            await watch.close()


WRITES = frozenset(
    {"xadd", "xtrim", "xdel", "set", "setnx", "getset", "del", "unlink", "expire", "pexpire"}
    | {"eval", "evalsha", "hset", "incr", "xgroup", "xack", "rename", "copy", "flushdb"}
)


async def write_calls(client: aioredis.Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if name.removeprefix("cmdstat_").split("|")[0] in WRITES
    }


async def test_a_watching_desk_with_every_right_still_writes_nothing(key_prefix: str) -> None:
    """On a Redis of its own, with the desk that wrote it stopped: the watching desk's
    start, its readers and listings, a refused order and a quit leave the server's
    write commands uncounted (INFO commandstats) and every key as it was."""
    with RedisServer() as server:
        driver = desk(server.url, key_prefix, "paper")
        await driver.start()
        await resting_buy(driver, "paper")
        await driver.close()
        client = aioredis.Redis.from_url(server.url)
        keys = sorted(await client.keys("*"))
        lengths = {k: await client.xlen(k) for k in keys if await client.type(k) == b"stream"}
        before = await write_calls(client)

        watch = watcher(server.url, key_prefix, discover_every_s=0.1)
        await watch.start()
        gateway = watch.command_gateway()
        order = next(iter(watch.projection.orders.values())).order.request
        refused = await gateway.send(PlaceOrder(request=order))
        assert isinstance(refused, Refused)
        await asyncio.sleep(1.0)  # ten listings, the readers' reads, epoch checks
        await watch.close()

        assert await write_calls(client) == before
        assert sorted(await client.keys("*")) == keys
        assert {k: await client.xlen(k) for k in lengths} == lengths
        await client.aclose()
