"""A kill switch pulled on one desk and lifted again (a RESUME) while another desk
starts: the starting desk replays both, and once its brokers are up it still makes
the cancels the kill switch asked of it (`Session._honour_pending`), but says that
the kill was followed by the resume and that trading is ACTIVE, in the log and in a
toast. Before, it cancelled its resting orders under ACTIVE and said only "Trading
HALTED; cancelled 1 order(s)." On a real Redis, a bus per desk."""

from __future__ import annotations

import pytest

from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine import Session
from tests.support.desks import (
    desk,
    log_messages,
    logged_line,
    rest_and_leave,
    resting_buy,
    status,
    until,
    venue_working,
)
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


async def line_holding(session: Session, part: str, within_s: float = 5.0) -> str:
    try:
        return await logged_line(session, part, within_s)
    except TimeoutError:
        lines = await log_messages(session)
        raise AssertionError(f"no log line holds {part!r}; the log: {lines}") from None


def name(session: Session) -> str:
    return f"desk {session.claims.desk.host} pid {session.claims.desk.pid}"


async def test_a_kill_then_a_resume_while_a_desk_starts_cancels_and_says_both(
    redis_server: RedisServer, key_prefix: str
) -> None:
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    b = desk(url, key_prefix, "paper2")
    await b.start()
    a = desk(url, key_prefix, "paper")
    try:
        await a.open()  # desk A is starting: bus open, brokers claimed
        await b.engine.kill("drill on desk B")
        await b.engine.resume()
        await a.start()  # replays the KILL and the RESUME
        assert a.engine.gate.state is TradingState.ACTIVE
        # The kill switch asked every desk to cancel: desk A does, once up.
        await until(lambda: status(a, cid) is OrderStatus.CANCELED)
        assert await venue_working(a) == []
        # And says why, naming the kill, the resume after it and the state now.
        said = (
            f"{name(a)}, after a kill switch on another desk (drill on desk B by {name(b)}) "
            f"followed by a resume (trading resumed by {name(b)}), both while this desk "
            "was starting: trading is ACTIVE; the orders the kill switch asked to cancel "
            "were cancelled all the same: cancelled 1 order(s)."
        )
        assert await line_holding(a, "followed by a resume") == said
        # One line says it: not the engine's "Trading HALTED" beside it, under ACTIVE.
        assert [m for m in await log_messages(a) if "kill switch on another" in m] == [said]
        [alert] = [x for x in a.alerts if x.message == said]
        assert alert.title == "Kill switch pulled and lifted while this desk started"
        assert alert.severity == "warning"
        assert alert.journaled  # its Log line is the one above: not said twice
        assert a.engine.kill_from_elsewhere == ""
        # Trading is ACTIVE: a new order goes, and the kill's cancels do not take it.
        again = await resting_buy(a, "paper")
        await until(lambda: status(a, again) is OrderStatus.NEW)
        assert await venue_working(a) == [again]
        assert a.engine.gate.state is TradingState.ACTIVE
    finally:
        await a.close()
        await b.close()


async def test_a_kill_then_reduce_only_while_a_desk_starts_says_reduce_only(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Lifted to REDUCE ONLY rather than resumed: the same, naming that state."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    b = desk(url, key_prefix, "paper2")
    await b.start()
    a = desk(url, key_prefix, "paper")
    try:
        await a.open()
        await b.engine.kill("drill on desk B")
        await b.engine.set_trading_state(TradingState.REDUCE_ONLY)
        await a.start()
        assert a.engine.gate.state is TradingState.REDUCE_ONLY
        await until(lambda: status(a, cid) is OrderStatus.CANCELED)
        line = await line_holding(a, "followed by a change of the trading state")
        assert line == (
            f"{name(a)}, after a kill switch on another desk (drill on desk B by {name(b)}) "
            "followed by a change of the trading state to REDUCE_ONLY (trading state "
            f"REDUCE_ONLY by {name(b)}), both while this desk was starting: trading is "
            "REDUCE_ONLY; the orders the kill switch asked to cancel were cancelled all "
            "the same: cancelled 1 order(s)."
        )
        assert [x.message for x in a.alerts if x.title.startswith("Kill switch")] == [line]
    finally:
        await a.close()
        await b.close()
