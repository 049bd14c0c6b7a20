"""What the api link says when TWS accepts a connection and does not answer it.

The watchdog drops the socket of a TWS that has not answered for
`unanswered_reconnect_s`; the reconnect then meets the same hung TWS, which takes the
connection (its listen backlog) and answers nothing. That read "did not complete the API
handshake in 2s; check that the API is enabled and this host is a trusted IP", sending
the trader to TWS's API settings while TWS was simply hung. Now it says that TWS
accepts the connection but does not answer it, that it is still hung (and for how long
it had not answered when the socket was dropped), and what to do; a first connect that
hears nothing at all says hung or busy, or a connection waiting to be accepted in TWS's
window. A TWS that answers part of the handshake keeps the words of before. Against the
fake TWS (`freeze`: TWS stopped, new connections accepted and not read) with the real
ib_async client."""

from __future__ import annotations

from typing import Any

from silvertine_tui.domain import ConnectionState as L
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk
from tests.support.waiting import until

QUICK: dict[str, Any] = {
    "watchdog_s": 0.05,
    "answer_timeout_s": 0.2,
    "unanswered_reconnect_s": 0.6,
}
OLD_WORDS = ("API is enabled", "trusted IP")


def api(d: Desk) -> tuple[L, str]:
    link = d.broker.health_state.links["api"]
    return link.state, link.detail


async def api_details(d: Desk) -> list[str]:
    """Every detail the api link was published with, in order (the health stream)."""
    said: list[str] = []
    for health in await d.health():
        detail = str(health.metrics.get("link_detail:api", ""))
        if not said or said[-1] != detail:
            said.append(detail)
    return said


async def test_a_reconnect_to_a_tws_still_hung_says_it_is_hung_and_what_to_do() -> None:
    async with FakeTws() as fake, desk(fake, **QUICK) as d:
        await d.broker.settle()
        fake.freeze()  # TWS stops: the watchdog's questions go unanswered
        await until(lambda: fake.connects >= 2, 5.0, "a reconnect after the watchdog's drop")
        await until(
            lambda: "accepts the connection" in api(d)[1], 5.0, "the reconnect's failure said"
        )
        state, detail = api(d)
        assert state is L.DISCONNECTED
        endpoint = f"127.0.0.1:{fake.port}"
        assert f"TWS at {endpoint} accepts the connection but does not answer it" in detail
        assert "nothing in 0.5s" in detail
        assert "still hung (the desk dropped its last socket after TWS had not" in detail
        assert "restart TWS or IB Gateway" in detail
        assert not [w for w in OLD_WORDS if w in detail], detail
        said = [s for s in await api_details(d) if "handshake" in s or "accepts" in s]
        assert said, await api_details(d)
        assert not [s for s in said if any(w in s for w in OLD_WORDS)], said
        fake.thaw()  # TWS runs again: the desk connects, rebuilds and is LIVE
        await until(lambda: d.broker.state is L.LIVE, 8.0, "LIVE once TWS answers")
        assert d.broker.health_state.errors["unanswered_reconnect"] == 1
        assert await d.broker.place(d.request(limit="148.00"))


async def test_a_first_connect_to_a_tws_that_answers_nothing_says_so() -> None:
    async with FakeTws() as fake:
        fake.freeze()
        async with desk(fake) as d:  # connect() returns; the reconnect keeps trying
            state, detail = api(d)
            assert state is L.DISCONNECTED
            assert "accepts the connection but does not answer it (nothing in 0.5s)" in detail
            assert "hung or busy, or waits for someone to accept this connection" in detail
            assert "Trusted IPs" in detail
            assert "still hung" not in detail  # no socket of before was dropped
            fake.thaw()
            await until(lambda: d.broker.state is L.LIVE, 8.0, "LIVE once TWS answers")


async def test_a_tws_that_answers_part_of_the_handshake_keeps_the_words_of_before() -> None:
    """TWS answers the greeting but starts the API session only after the connect's
    timeout (`slow_start`): not a TWS that answers nothing."""
    async with FakeTws() as fake:
        fake.slow_start(1, 5.0)
        async with desk(fake) as d:
            state, detail = api(d)
            assert state is L.DISCONNECTED
            assert "did not complete the API handshake in 0.5s" in detail
            assert "accepts the connection" not in detail
            fake.slow_start(1, 0)
            await until(lambda: d.broker.state is L.LIVE, 8.0, "LIVE once TWS answers")
