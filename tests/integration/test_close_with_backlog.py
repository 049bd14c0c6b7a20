"""A desk that quits while Redis is down says what it could not journal.

Execution events made during an outage wait in the bus's outage buffer, in memory.
Quit before Redis is back and they are gone: the paper venue's fill made meanwhile is in
no journal. Before, `RedisBus.close` logged a count and nothing else said it: the
session closed as usual, the headless desk said "stopped cleanly" and exited 0, the
desk with the UI said "bye". Now the bus counts what `close` left unwritten (the
journal's events: not health, nor a snapshot, which only shortens the next replay),
logs each one whole, the session keeps it for the trader (`Session.not_journaled`),
and the CLI says it, with what to do, and exits `EXIT_NOT_JOURNALED`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from silvertine_tui import cli
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.events import FillEvent
from tests.support.paper_session import paper_broker, paper_session, resting_buy
from tests.support.redis_bus import a_bus
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis


def working(session: Session, cid: str) -> bool:
    view = session.engine.oms.get(cid)
    return view is not None and view.order.status is OrderStatus.NEW


def market_buy() -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=Decimal("0.01"),
        tif=TimeInForce.IOC,
    )


async def filled_while_redis_was_down(server: RedisServer, key_prefix: str) -> Session:
    """A paper session that bought (and filled) with Redis down, then closed."""
    async with a_bus(server, key_prefix) as bus, paper_session(bus, ack_s=0.01) as session:
        await server.akill()
        await until(lambda: not bus.stats.connected, what="the bus down")
        venue = paper_broker(session).venue
        assert venue.fills_since() == []
        await session.engine.submit(market_buy())
        await until(lambda: len(venue.fills_since()) == 1, what="the fill")
    return session


async def test_a_close_with_events_unwritten_says_how_many_and_the_fills_among_them(
    key_prefix: str,
) -> None:
    with RedisServer(persistence=True) as server:
        session = await filled_while_redis_was_down(server, key_prefix)
        stats = session.bus.stats
        # request, PENDING_NEW, NEW, the fill, FILLED, its position, balances...
        assert stats.closed_unwritten >= 5, stats
        assert stats.closed_unwritten_fills == 1, stats
        said = session.not_journaled
        assert said.startswith(
            f"{stats.closed_unwritten} execution events (fills, order updates; 1 fill among "
            "them) were NOT journaled: Redis was unreachable"
        ), said
        assert "paper/main is a simulator" in said, said
        assert "bus.redis.unwritten_at_close" in said, said

        # What was said is so: Redis back, its journal has no fill.
        await server.arestart()
        async with a_bus(server, key_prefix) as check:
            entries = await check.read(check.layout.exec("paper", "main"))
        assert entries, "the journal from before the outage is gone"
        assert not [e for e in entries if isinstance(e.event, FillEvent)], entries


async def test_the_desk_says_it_once_the_ui_is_gone_and_exits_not_journaled(
    key_prefix: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`_after_desk` (the desk with the UI, once the app has ended and its session is
    closed) on a session that left events unwritten: no "bye", exit code 7."""
    with RedisServer() as server:
        session = await filled_while_redis_was_down(server, key_prefix)
    code = cli._after_desk(cli.EXIT_OK, [session], cli._StopSignals(), tmp_path / "x.log")
    err = capsys.readouterr().err
    assert code == cli.EXIT_NOT_JOURNALED == 7, (code, err)
    assert f"silvertine: {session.not_journaled}" in err, err
    assert "bye" not in err, err


async def test_only_health_and_a_snapshot_waiting_is_no_loss(key_prefix: str) -> None:
    """Nothing traded during the outage: what waits at close is the brokers' health and
    the final snapshot (the journal has everything a snapshot holds): not said."""
    with RedisServer() as server:
        async with a_bus(server, key_prefix) as bus, paper_session(bus, ack_s=0.01) as session:
            await server.akill()
            await until(lambda: not bus.stats.connected, what="the bus down")
        assert bus.stats.closed_unwritten == 0, bus.stats
        assert session.not_journaled == ""
        # (It said "closed with 2 execution events not journaled" of the health.)
        said = bus.stats.last_error
        assert said.startswith("closed with "), said
        assert said.endswith(" health or snapshot entries unwritten (no execution event)"), said


async def test_headless_desk_stopped_with_events_unwritten_exits_not_journaled(
    key_prefix: str, tmp_path: Path
) -> None:
    """`silvertine run --headless` with `engine.cancel_on_exit`, stopped (SIGTERM) while
    Redis is down: its cancel of the working order reaches the paper venue, and the
    cancel's events wait in the outage buffer when the bus closes."""
    with RedisServer() as server:
        # An order rests in the journal.
        async with a_bus(server, key_prefix) as bus, paper_session(bus, ack_s=0.01) as session:
            cid = await session.engine.submit(resting_buy(session))
            await until(lambda: working(session, cid), what="the order working")
        config = tmp_path / "desk.yaml"
        log = tmp_path / "desk.log"
        config.write_text(
            f"bus: {{url: {server.url!r}, prefix: {key_prefix}}}\n"
            f"log: {{file: {str(log)!r}}}\n"
            "engine: {cancel_on_exit: true}\n"
            "brokers: [{name: paper, type: paper, seed: 7, symbols: [BTCUSDT],"
            " market: {autorun: false},"
            " latency: {ack_ms: 10, fill_ms: 1, cancel_ms: 1, jitter_ms: 0}}]\n"
        )
        env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
        env.pop("SILVERTINE_CONFIG", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "silvertine_tui",
            "run",
            "--headless",
            "--config",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert proc.stderr is not None
        try:
            async with asyncio.timeout(60):
                banner = await proc.stderr.readline()
                assert b"headless session on redis://" in banner, banner
                await server.akill()
                proc.send_signal(signal.SIGTERM)
                _, rest = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    err = rest.decode()
    assert proc.returncode == 7, err[-2000:]
    assert "stopped cleanly" not in err, err
    assert "execution events (fills, order updates" in err, err
    assert "were NOT journaled: Redis was unreachable" in err, err
    assert "Traceback" not in err, err
    records = [orjson.loads(line) for line in log.read_text().splitlines()]
    unwritten = [r for r in records if r["event"] == "bus.redis.unwritten_at_close"]
    types = {r["fields"]["t"] for r in unwritten}
    assert {"order.cancel", "order.update"} <= types, types
    assert all(r["level"] == "ERROR" for r in unwritten)
