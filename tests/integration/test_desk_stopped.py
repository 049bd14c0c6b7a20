"""A trading desk whose engine reader fails stops sending and says so: it would
otherwise check orders against a desk frozen at that moment (a real Redis; the
journal's key clobbered by something else, so that the reader's XREAD fails)."""

from __future__ import annotations

import pytest

from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.engine.session import DESK_STOPPED
from tests.support.desks import desk, resting_buy, until
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis


async def test_a_desk_whose_reader_fails_sends_nothing_more_and_says_why(
    redis_server: RedisServer, key_prefix: str
) -> None:
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    try:
        await resting_buy(session, "paper")
        stream = session.bus.layout.exec("paper", "main")
        command(redis_server.host, redis_server.port, "DEL", stream)
        command(redis_server.host, redis_server.port, "SET", stream, "not a stream")
        await until(lambda: any(a.title == "Desk stopped" for a in session.alerts))
        alert = next(a for a in session.alerts if a.title == "Desk stopped")
        assert alert.severity == "error"
        assert alert.message.startswith("this desk stopped (engine-reader failed: ")
        assert "what it shows is frozen and it sends no new order" in alert.message
        assert "Quit and start it again." in alert.message
        assert session.not_ready_rule == DESK_STOPPED
        with pytest.raises(RiskRejected, match=DESK_STOPPED):
            await resting_buy(session, "paper")
    finally:
        command(redis_server.host, redis_server.port, "DEL", stream)
        await session.close()
