"""A kill switch pulled while a venue is unreachable cannot cancel that venue's orders
(NOT everything cancelled: NotConnected); once the venue is back (reconnected and
reconciled), trading still HALTED, the desk cancels them and says so: a kill's
follow-up line (the desk's kill toast then over). Before, the order worked on at the
venue, HALTED, the kill's "start TWS" toast standing and nothing tried again (a
trader's review on the IB desk). A resume before the venue is back leaves them: the
trader's again. On a real Redis (the paper venue's link dropped and restored)."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine import Session
from tests.support.desks import (
    desk,
    log_messages,
    logged_line,
    resting_buy,
    status,
    until,
    venue_working,
)
from tests.support.redis_server import RedisServer
from tests.support.while_down import read_record, titled_alerts

pytestmark = pytest.mark.redis

BACK = "kill switch: paper/main is back"


async def killed_while_away(session: Session) -> str:
    """A resting buy; the venue's link dropped; the kill switch pulled: the buy works on."""
    cid = await resting_buy(session, "paper")
    await until(lambda: status(session, cid) is OrderStatus.NEW)
    await session.engine.brokers["paper"].drop_link()  # type: ignore[attr-defined]
    report = await session.engine.kill("drill, the venue away")
    assert not report.ok
    assert cid in report.still_working
    assert status(session, cid) is OrderStatus.NEW
    return cid


async def test_a_kill_s_cancels_are_made_once_the_venue_is_back(
    redis_server: RedisServer, key_prefix: str
) -> None:
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    try:
        cid = await killed_while_away(session)
        await session.engine.brokers["paper"].restore_link()  # type: ignore[attr-defined]
        await until(lambda: status(session, cid) is OrderStatus.CANCELED)
        assert session.engine.gate.state is TradingState.HALTED
        said = await logged_line(session, BACK)
        assert said == f"{BACK}: cancelled the 1 order(s) it had left working."
    finally:
        await session.close()


async def test_a_resume_before_the_venue_is_back_leaves_its_orders(
    redis_server: RedisServer, key_prefix: str
) -> None:
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    try:
        cid = await killed_while_away(session)
        await session.engine.resume()
        await session.engine.brokers["paper"].restore_link()  # type: ignore[attr-defined]
        await asyncio.sleep(1.0)  # what the reconnect would have cancelled by now
        assert status(session, cid) is OrderStatus.NEW
        assert [m for m in await log_messages(session) if BACK in m] == []
    finally:
        await session.close()


OWED = "Kill switch's cancels carried from this desk's last run"


async def test_a_desk_quit_before_the_venue_is_back_makes_the_kill_s_cancels_at_its_next_start(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The kill's owed cancels were held in memory only: a desk quit (or killed) before
    its venue was back took the KILL as read at its next start (its own run had read
    it), and the order worked on there, HALTED, the reconcile showing it working. The
    last-run record carries them now (`LastRun.kill_owed`): the next start makes them
    and says why."""
    first = desk(redis_server.url, key_prefix, "paper")
    await first.start()
    try:
        cid = await killed_while_away(first)
        await asyncio.sleep(1.2)  # its record kept (once a second), as a running desk's
        record = read_record(first.last_run.path)
        assert record.kill_owed == {"paper": [cid]}
        assert record.trading_state is TradingState.HALTED
    finally:
        await first.close()

    restarted = desk(redis_server.url, key_prefix, "paper")
    await restarted.start()
    try:
        assert restarted.engine.gate.state is TradingState.HALTED
        await until(lambda: status(restarted, cid) is OrderStatus.CANCELED)
        assert await venue_working(restarted) == []
        said = await logged_line(restarted, "still owing the cancels of 1 order(s)")
        assert said.startswith("Trading HALTED; cancelled 1 order(s). "), said  # outcome first
        await until(lambda: bool(titled_alerts(restarted, OWED)))
        [(message, severity)] = titled_alerts(restarted, OWED)
        assert message == f"{said}."
        assert severity == "warning"
        await asyncio.sleep(1.2)
        record = read_record(restarted.last_run.path)
        assert record.kill_owed == {}
        assert record.acting == {}
    finally:
        await restarted.close()

    again = desk(redis_server.url, key_prefix, "paper")
    await again.start()
    try:  # made once: the start after that one has nothing to say of it
        await asyncio.sleep(1.0)
        assert [m for m in await log_messages(again) if "still owing" in m] == [said]
    finally:
        await again.close()


async def test_a_resume_before_the_desk_quit_carries_nothing(
    redis_server: RedisServer, key_prefix: str
) -> None:
    first = desk(redis_server.url, key_prefix, "paper")
    await first.start()
    try:
        cid = await killed_while_away(first)
        await first.engine.resume()
        await asyncio.sleep(1.2)
        assert read_record(first.last_run.path).kill_owed == {}
    finally:
        await first.close()
    restarted = desk(redis_server.url, key_prefix, "paper")
    await restarted.start()
    try:
        await asyncio.sleep(1.0)
        assert status(restarted, cid) is OrderStatus.NEW
        assert titled_alerts(restarted, OWED) == []
    finally:
        await restarted.close()
