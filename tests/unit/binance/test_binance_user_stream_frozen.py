"""A frozen user-data connection (its socket open, nothing arriving, its pings
unanswered: the path to Binance lost without a close or a reset) is found by a ping
unanswered (`UserStream._ping_watch`), not by websockets' own keepalive alone.

Silence is no sign on the user stream: a quiet account sends nothing for hours. Before,
nothing watched it: the library's connection was closed by websockets' keepalive (a
ping every 20 s, 20 s for its pong), so the "user" link read LIVE for 20 to 40 s after
the freeze (40.2 s measured against this fake) while fills went unheard. Now the
connection is pinged every `ping_every_s` (5 s) and lost when a pong does not come
within `ping_timeout_s` (10 s): 10 to 15 s; shortened here.

The real python-binance client against the fake Binance (`freeze_user_data`)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import FillEvent
from tests.support.binance_broker import binance_session
from tests.support.binance_stream import journaled, o1
from tests.support.waiting import until

ETH = "ETHUSDT"


async def test_a_frozen_user_stream_is_found_by_a_ping_and_caught_up() -> None:
    async with binance_session(balances={"USDT": "10000"}, connect=False) as s:
        broker, fake = s.broker, s.fake
        broker.user.ping_every_s = 0.1
        broker.user.ping_timeout_s = 1.0
        await broker.connect()
        await fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [broker], RiskConfig())
        await engine.load_instruments()
        await broker.place(o1())
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is OrderStatus.NEW)
        connects = fake.api_connects

        assert fake.freeze_user_data() == 1
        loop = asyncio.get_running_loop()
        frozen_at = loop.time()
        await fake.fill(fake.order_by_client_id("o1").order_id, D("0.4"))  # unheard
        user = broker.health_state.links
        await until(lambda: user["user"].state is not ConnectionState.LIVE, 5.0, "the freeze found")
        found_s = loop.time() - frozen_at
        assert found_s < 3.0, found_s  # (websockets' keepalive alone: 20 to 40 s)
        assert user["user"].detail.startswith(
            "no answer on the user-data connection for 1 s (a ping unanswered"
        ), user["user"]
        assert broker.user.pings_unanswered == 1

        # A new connection, subscribed again, and the catch-up journals what was missed.
        await until(
            lambda: broker.user.subscribed and user["user"].state is ConnectionState.LIVE,
            5.0,
            "the user stream subscribed again",
        )
        assert fake.api_connects > connects
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4"))
        fills = [e for e in await s.events() if isinstance(e, FillEvent)]
        assert [f.payload.quantity for f in fills] == [D("0.4")]
        await broker.publish_health()
        assert broker.health_state.extra["user_pings_unanswered"] == 1


async def test_a_live_user_stream_answers_its_pings() -> None:
    """No false alarm: pinged 10 times a second, a connection that answers (a quiet
    account: no event at all) stays LIVE, subscribed once."""
    async with binance_session(connect=False) as s:
        broker, fake = s.broker, s.fake
        broker.user.ping_every_s = 0.1
        broker.user.ping_timeout_s = 2.0
        await broker.connect()
        connects, rebuilds = fake.api_connects, broker.user.rebuilds
        connection = broker.rest.client.ws_api.ws  # type: ignore[union-attr]
        answered = connection.latency
        await asyncio.sleep(1.5)  # (15 pings: each answered, the link untouched)
        assert connection.latency != answered  # pongs came back and were timed
        assert broker.user.pings_unanswered == 0
        assert (fake.api_connects, broker.user.rebuilds) == (connects, rebuilds)
        assert broker.health_state.links["user"].state is ConnectionState.LIVE
