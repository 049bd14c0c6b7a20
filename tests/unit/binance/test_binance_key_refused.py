"""Binance refuses the API key pair (-1022 a signature made with the wrong secret,
-2015 a key it does not know, or an IP or permission the key lacks): the health pane
says so in words the trader can act on, once, and the adapter does not hammer Binance
with attempts that cannot succeed. The fake checks keys and HMAC signatures as Binance
does, so a wrong secret is refused by the venue, not by the test."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from silvertine_tui.domain import ConnectionState
from silvertine_tui.events import HealthEvent
from tests.fakes.binance.server import API_KEY, API_SECRET
from tests.support.binance_broker import Session, binance_session

SUBSCRIBE = "userDataStream.subscribe.signature"
WRONG = "wrong-but-secret-0123456789abcdef"  # must never be shown or logged
REFUSED_RETRY_S = 1.0


async def wait_until(check: Callable[[], bool], what: str, timeout: float = 4.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def subscribes(s: Session) -> int:
    return s.fake.ws_api_requests.count(SUBSCRIBE)


async def last_link_detail(s: Session, link: str) -> str:
    """What the health pane shows for `link`: the broker's newest health event."""
    for entry in reversed(await s.bus.read(s.bus.layout.health)):
        event = entry.event
        if isinstance(event, HealthEvent) and event.payload.component == s.broker.component:
            return str(event.payload.metrics.get(f"link_detail:{link}", ""))
    return ""


def assert_nothing_secret(text: str) -> None:
    for secret in (WRONG, API_SECRET):
        assert secret not in text


def assert_clear(detail: str, code: int) -> None:
    assert f"Binance refused the API key pair (code {code}: " in detail, detail
    assert "Check api_key and api_secret" in detail, detail
    assert "Tried again every 1 s" in detail, detail
    for raw in ("BinanceAPIException", "APIError", "NotConnected", "; retrying"):
        assert raw not in detail, detail
    assert_nothing_secret(detail)


@pytest.mark.parametrize(
    ("wrong", "code"),
    [("api_secret", -1022), ("api_key", -2015)],
    ids=["bad-signature", "unknown-key"],
)
async def test_a_refused_key_pair_is_said_clearly_once_and_not_hammered(
    wrong: str, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="silvertine_tui")
    overrides: dict[str, Any] = {wrong: SecretStr(WRONG)}
    async with binance_session(refused_retry_s=REFUSED_RETRY_S, **overrides) as s:
        assert s.broker.state is ConnectionState.DISCONNECTED
        rest = s.broker.health_state.links["rest"]
        assert rest.state is ConnectionState.DISCONNECTED
        assert_clear(rest.detail, code)
        assert_clear(await last_link_detail(s, "rest"), code)
        assert s.broker.health_state.links["user"].state is ConnectionState.DISCONNECTED
        # The quick reconnect (0.05 s doubling to 0.2 s in these tests) would make
        # several attempts in 1.5 s; a refusal is asked about again after 1 s.
        await asyncio.sleep(1.5)
        assert subscribes(s) <= 2, s.fake.ws_api_requests
        assert s.broker.state is ConnectionState.DISCONNECTED
        assert_clear(s.broker.health_state.links["rest"].detail, code)
    refusals = [r for r in caplog.records if r.getMessage() == "binance.key_pair_refused"]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.getMessage() == "binance.connect_failed"]
    for record in caplog.records:
        assert_nothing_secret(repr(record.__dict__))


async def test_a_key_pair_accepted_later_is_picked_up_without_a_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """-2015 also means an IP not on the key's whitelist, or a key that may not trade
    spot: fixed at Binance, the desk goes LIVE at the next attempt."""
    caplog.set_level(logging.INFO, logger="silvertine_tui")
    async with binance_session(refused_retry_s=REFUSED_RETRY_S, connect=False) as s:
        s.fake.api_key = "a-key-binance-does-not-accept-yet"
        await s.broker.connect()
        assert s.broker.state is ConnectionState.DISCONNECTED
        assert_clear(s.broker.health_state.links["rest"].detail, -2015)
        s.fake.api_key = API_KEY  # the trader whitelisted the desk's IP at Binance
        await wait_until(lambda: s.broker.state is ConnectionState.LIVE, "LIVE")
        assert s.broker.health_state.links["rest"].state is ConnectionState.LIVE
    logged = [r.getMessage() for r in caplog.records]
    assert logged.count("binance.key_pair_refused") == 1, logged
    assert "binance.key_pair_accepted" in logged


async def test_a_key_pair_refused_while_rebuilding_the_user_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The key is revoked (here: its secret changed at the venue) while the desk runs;
    the user-data connection drops and its re-subscription is refused."""
    caplog.set_level(logging.INFO, logger="silvertine_tui")
    async with binance_session(refused_retry_s=REFUSED_RETRY_S) as s:
        assert s.broker.state is ConnectionState.LIVE
        s.fake.api_secret = "another-secret"
        await s.fake.terminate_event_streams()
        user = s.broker.health_state.links

        await wait_until(lambda: "refused" in user["user"].detail, "the refusal shown")
        assert s.broker.state is ConnectionState.DISCONNECTED
        assert_clear(user["user"].detail, -1022)
        assert_clear(await last_link_detail(s, "user"), -1022)
        before = subscribes(s)
        await asyncio.sleep(1.5)
        assert subscribes(s) - before <= 2, s.fake.ws_api_requests
        s.fake.api_secret = API_SECRET
        await wait_until(lambda: s.broker.state is ConnectionState.LIVE, "LIVE again")
    logged = [r.getMessage() for r in caplog.records]
    assert logged.count("binance.key_pair_refused") == 1, logged
    for record in caplog.records:
        assert_nothing_secret(repr(record.__dict__))
