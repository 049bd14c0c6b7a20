"""A cancel or a modify the desk journaled and then died before the venue took (the
trader's drill: `c` on a resting order, `kill -9` about 12 ms later, the paper cancel
latency 20 ms). The journal ends with `order.cancel` then PENDING_CANCEL (a modify's:
`order.modify` then PENDING_REPLACE); the paper venue, rebuilt from that journal at the
restart, never had the request and works the order as it was.

Before, the restart's reconcile took the venue's NEW and said only "RECON
STATUS_MISMATCH ... ours=PENDING_CANCEL" in the Log: the order worked on, the cancel was
never sent again. Now a cancel whose order the venue still works is made again once the
reconcile is done, and said (a WARNING Log line naming the order); a lost modify is not
sent again (it may add exposure, the market moved) but said as an ERROR Log line (a
toast on the desk); an order that filled meanwhile is sent nothing.

On a real Redis: the desk that dies is a process of its own (this module run as
`python -m tests.integration.test_lost_cancel_restart MODE URL PREFIX`), SIGKILLed once
its request is journaled, with the paper venue's cancel (or replace) latency long, so
the venue never acts on it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal

import orjson
import pytest

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.config import Settings
from silvertine_tui.domain import Book, BookLevel, OrderStatus
from silvertine_tui.domain.ids import short_id
from silvertine_tui.engine import Session
from silvertine_tui.events import EventBase, LogEvent, LogLevel
from tests.support.desks import desk, logged_line, resting_buy, status, until, venue_working
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

SYMBOL = "BTCUSDT.PAPER"
SLOW_MS = 60_000.0
"""The dying desk's paper venue acts on its cancel (or replace) this long after it is
sent: never, before the SIGKILL."""


def child_settings(url: str, prefix: str) -> Settings:
    """The restarted desk's settings (`tests.support.desks.desk_settings`), its paper
    venue's cancels slow."""
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "symbols": ["BTCUSDT"],
                    "market": {"autorun": False},
                    "latency": {"cancel_ms": SLOW_MS},
                }
            ],
        }
    )


def book(bid: str, ask: str, ask_size: str = "1") -> Book:
    return Book(
        instrument=SYMBOL,
        bids=(BookLevel(price=Decimal(bid), size=Decimal(1)),),
        asks=(
            BookLevel(price=Decimal(ask), size=Decimal(ask_size)),
            BookLevel(price=Decimal("65010"), size=Decimal(1)),
        ),
    )


async def child(mode: str, url: str, prefix: str) -> None:
    """A desk that rests a buy at 63,000, asks what `mode` says, prints the order's id
    once the request is journaled (read back by its engine), and waits for SIGKILL."""
    session = Session(child_settings(url, prefix))
    await session.start()
    engine = session.engine
    [paper] = session.brokers
    assert isinstance(paper, PaperBroker)
    cid = await resting_buy(session, "paper")
    await until(lambda: status(session, cid) is OrderStatus.NEW)
    if mode == "part":
        # Part filled before the cancel (a fill during it moves the order to
        # PARTIALLY_FILLED: no longer the cancel's PENDING_CANCEL), the market back
        # where it was: the rest rests.
        await paper.on_market_data(book("62980", "62990", ask_size="0.004"))
        await until(lambda: status(session, cid) is OrderStatus.PARTIALLY_FILLED)
        await paper.on_market_data(book("64990", "65010"))
    requests: list[asyncio.Task[None]] = []
    if mode == "modify":
        paper.latency.ack_ms = SLOW_MS  # the replace: never, before the SIGKILL
        requests.append(asyncio.create_task(engine.modify(cid, limit_price=Decimal("63100"))))
        await until(lambda: status(session, cid) is OrderStatus.PENDING_REPLACE)
    else:
        requests.append(asyncio.create_task(engine.cancel(cid)))
        await until(lambda: status(session, cid) is OrderStatus.PENDING_CANCEL)
    if mode == "filled":
        # The venue fills it while the cancel is on its way.
        await paper.on_market_data(book("62980", "62990"))
        await until(lambda: status(session, cid) is OrderStatus.FILLED)
        await paper.on_market_data(book("64990", "65010"))  # (the market back)
    sys.stdout.write(orjson.dumps({"cid": cid}).decode() + "\n")
    sys.stdout.flush()
    await asyncio.sleep(3600)  # until SIGKILL


async def died_with(url: str, prefix: str, mode: str) -> str:
    """Run `child` in its own process, SIGKILL it once its request is journaled; the
    order's id."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.test_lost_cancel_restart",
        mode,
        url,
        prefix,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise AssertionError((await proc.stderr.read()).decode()[-3000:])
        cid = orjson.loads(line)["cid"]
        assert isinstance(cid, str)
        return cid
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()


async def journal_types(session: Session, cid: str) -> list[str]:
    """The types of `cid`'s journal entries (requests and reports), in order."""
    stream = session.bus.layout.exec("paper", "main")
    return [
        e.event.type
        for e in await session.bus.read(stream)
        if isinstance(e.event, EventBase)
        and getattr(e.event.payload, "client_order_id", None) == cid
    ]


async def log_lines(session: Session) -> list[tuple[LogLevel, str]]:
    entries = await session.bus.read(session.bus.layout.health)
    return [
        (e.event.payload.level, e.event.payload.message)
        for e in entries
        if isinstance(e.event, LogEvent)
    ]


async def test_a_cancel_lost_when_the_desk_died_is_made_again_once_reconciled(
    redis_server: RedisServer, key_prefix: str
) -> None:
    url = redis_server.url
    cid = await died_with(url, key_prefix, "cancel")
    restarted = desk(url, key_prefix, "paper")
    try:
        await restarted.start()
        await until(lambda: status(restarted, cid) is OrderStatus.CANCELED)
        assert await venue_working(restarted) == []
        said = await logged_line(restarted, f"cancel of {short_id(cid)} lost when the desk stopped")
        assert said == (
            f"cancel of {short_id(cid)} lost when the desk stopped (the venue still works it "
            "NEW): sent again"
        )
        assert (LogLevel.WARNING, said) in await log_lines(restarted)
        types = await journal_types(restarted, cid)
        # The dead desk's cancel, the reconcile's NEW (the venue's), the cancel made
        # again and its outcome, journaled as any cancel.
        assert types.count("order.cancel") == 2
        assert types[-1] == "order.update"
        assert restarted.engine.oms.orders[cid].order.filled_qty == 0
    finally:
        await restarted.close()


async def test_a_cancel_lost_on_a_part_filled_order_cancels_the_rest(
    redis_server: RedisServer, key_prefix: str
) -> None:
    url = redis_server.url
    cid = await died_with(url, key_prefix, "part")
    restarted = desk(url, key_prefix, "paper")
    try:
        await restarted.start()
        await until(lambda: status(restarted, cid) is OrderStatus.CANCELED)
        order = restarted.engine.oms.orders[cid].order
        assert order.filled_qty == Decimal("0.004")
        assert await venue_working(restarted) == []
        said = await logged_line(restarted, f"cancel of {short_id(cid)} lost when the desk stopped")
        assert "(the venue still works it PARTIALLY_FILLED 0.004/0.01): sent again" in said
    finally:
        await restarted.close()


async def test_an_order_filled_while_its_cancel_was_lost_is_sent_nothing(
    redis_server: RedisServer, key_prefix: str
) -> None:
    url = redis_server.url
    cid = await died_with(url, key_prefix, "filled")
    restarted = desk(url, key_prefix, "paper")
    try:
        await restarted.start()
        assert status(restarted, cid) is OrderStatus.FILLED
        await asyncio.sleep(0.5)  # what a cancel made again would have journaled by now
        assert (await journal_types(restarted, cid)).count("order.cancel") == 1
        assert status(restarted, cid) is OrderStatus.FILLED
        assert not [m for _, m in await log_lines(restarted) if "lost when the desk" in m]
    finally:
        await restarted.close()


async def test_a_modify_lost_when_the_desk_died_is_said_not_sent_again(
    redis_server: RedisServer, key_prefix: str
) -> None:
    url = redis_server.url
    cid = await died_with(url, key_prefix, "modify")
    restarted = desk(url, key_prefix, "paper")
    try:
        await restarted.start()
        said = await logged_line(
            restarted, f"modify of {short_id(cid)} (limit 63,000.00 -> 63,100.00) lost"
        )
        assert said == (
            f"modify of {short_id(cid)} (limit 63,000.00 -> 63,100.00) lost when the desk "
            "stopped: the venue works it at 63,000.00; change it again if you still want it"
        )
        assert (LogLevel.ERROR, said) in await log_lines(restarted)  # a toast on the desk
        order = restarted.engine.oms.orders[cid].order
        assert order.status is OrderStatus.NEW
        assert order.limit_price == Decimal("63000")
        types = await journal_types(restarted, cid)
        assert types.count("order.modify") == 1  # not sent again
        assert "order.cancel" not in types
        assert await venue_working(restarted) == [cid]
    finally:
        await restarted.close()


if __name__ == "__main__":
    asyncio.run(child(*sys.argv[1:4]))
