"""A claim key deleted by another hand (`redis-cli DEL <prefix>:claim:<broker>`) while
its desk drives the broker frees nothing (engine/claims.py, bus/redis_streams.py
`_CLAIM`): the claim is kept with a copy that is set, renewed, expires and is released
with it, so a desk starting meanwhile is refused as if the key were there (exit 4,
naming the desk that drives the broker), and the driving desk's next renewal sets the
key again and says so. Before, the next desk took the key at once, rebuilt the paper
venue from the journal and drove it beside the first desk until that one's next
renewal found the key taken (chaos review, MED 2). On a real Redis."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.engine.claims import BrokerClaimedError, DeskId
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis


def desk_settings(url: str, prefix: str, **engine: Any) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "symbols": ["BTCUSDT"],
                    "latency": {"ack_ms": 0, "jitter_ms": 0},
                }
            ],
            "engine": engine,
        }
    )


def market_buy(cid: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=Decimal("0.01"),
        tif=TimeInForce.IOC,
    )


def status(session: Session, cid: str) -> OrderStatus | None:
    view = session.engine.oms.get(cid)
    return view.order.status if view is not None else None


async def claim_keys(raw: Redis, prefix: str) -> list[bytes]:
    return sorted([key async for key in raw.scan_iter(match=f"{prefix}:claim:*")])


async def test_a_deleted_claim_key_admits_no_second_desk_and_its_holder_sets_it_again(
    redis_server: RedisServer, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="silvertine_tui.bus.redis_streams")
    a = Session(desk_settings(redis_server.url, key_prefix, claim_ttl_s=3.0))
    await a.start()
    raw = Redis.from_url(redis_server.url)
    key = a.bus.layout.claim("paper")
    journal = a.bus.layout.exec("paper", "main")
    b = Session(desk_settings(redis_server.url, key_prefix, claim_ttl_s=3.0))
    try:
        filled = await a.engine.submit(market_buy("before-del"))
        await until(lambda: status(a, filled) is OrderStatus.FILLED, 5, "the fill")
        renewed = a.claims.renewed_at
        await until(lambda: a.claims.renewed_at != renewed, 3, "a renewal")
        assert await raw.delete(key) == 1
        written = await raw.xlen(journal)

        # A desk started at once is refused: the broker is driven by desk A.
        with pytest.raises(BrokerClaimedError) as refused:
            await b.open()
        (conflict,) = refused.value.conflicts
        assert conflict.broker == "paper"
        assert conflict.holder == a.claims.desk
        assert 0 < conflict.ttl_ms <= 3_000
        assert f"pid {os.getpid()}" in str(refused.value)
        assert not b.started
        assert await raw.xlen(journal) == written  # B wrote nothing to A's journal
        assert await raw.get(key) is None  # and set no claim of its own

        # A's next renewal sets the key again, says so, and A still drives the broker.
        await until(lambda: "bus.redis.claim_key_restored" in caplog.messages, 3)
        held = await raw.get(key)
        assert isinstance(held, bytes)
        assert DeskId.parse(held.decode()) == a.claims.desk
        [restored] = [r for r in caplog.records if r.getMessage() == "bus.redis.claim_key_restored"]
        assert restored.levelno == logging.ERROR
        assert restored.key == key  # type: ignore[attr-defined]
        assert a.claims.held == {"paper"}
        assert not a.claims.lost
        assert a.not_ready == ""
        after = await a.engine.submit(market_buy("after-del"))
        await until(lambda: status(a, after) is OrderStatus.FILLED, 5, "the fill")
        # Still refused while A runs, key and all.
        with pytest.raises(BrokerClaimedError):
            await Session(desk_settings(redis_server.url, key_prefix, claim_ttl_s=3.0)).open()
    finally:
        await a.close()
    # A's quit lets go of everything: the next desk drives the broker at once.
    try:
        assert await claim_keys(raw, key_prefix) == []
        c = Session(desk_settings(redis_server.url, key_prefix, claim_ttl_s=3.0))
        async with asyncio.timeout(5):
            await c.open()
        assert c.claims.held == {"paper"}
        await c.close()
    finally:
        await raw.aclose()


async def test_a_desk_that_quits_after_its_claim_key_was_deleted_leaves_no_claim(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Its release finds the key gone: it lets go of the claim all the same, and the
    next desk need not wait for a ttl."""
    a = Session(desk_settings(redis_server.url, key_prefix))
    await a.open()
    raw = Redis.from_url(redis_server.url)
    try:
        assert await raw.delete(a.bus.layout.claim("paper")) == 1
        await a.close()
        assert await claim_keys(raw, key_prefix) == []
        b = Session(desk_settings(redis_server.url, key_prefix))
        async with asyncio.timeout(5):
            await b.open()
        assert b.claims.held == {"paper"}
        await b.close()
    finally:
        await raw.aclose()


async def _headless(url: str, prefix: str, state: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    env.pop("SILVERTINE_CONFIG", None)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "silvertine_tui",
        "run",
        "--headless",
        "--bus",
        url,
        "--prefix",
        prefix,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def test_the_review_drill_a_second_desk_process_exits_4_after_the_del(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path
) -> None:
    """The review's drill with desk processes: desk A runs, `DEL <prefix>:claim:paper`,
    desk B started at once exits 4 naming A. Once A is killed (`kill -9`: nothing
    released) and its key deleted again, the next desk takes the broker over at once
    (A's process is gone on this host), as it does when the key is there."""
    key = f"{key_prefix}:claim:paper"
    raw = Redis.from_url(redis_server.url)
    first = await _headless(redis_server.url, key_prefix, tmp_path / "a")
    assert first.stderr is not None
    second: asyncio.subprocess.Process | None = None
    try:
        async with asyncio.timeout(60):
            banner = await first.stderr.readline()
            assert b"headless session on" in banner, banner
        assert await raw.delete(key) == 1
        second = await _headless(redis_server.url, key_prefix, tmp_path / "b")
        try:
            async with asyncio.timeout(30):
                _, said = await second.communicate()
        except TimeoutError:
            pytest.fail("desk B started on the broker desk A drives")
        text = said.decode()
        assert second.returncode == 4, text
        assert "not started: another desk drives this desk's brokers" in text
        assert f"pid {first.pid}" in text
        assert "Traceback" not in text
        first.send_signal(signal.SIGKILL)
        await first.wait()
        await raw.delete(key)
        session = Session(desk_settings(redis_server.url, key_prefix))
        async with asyncio.timeout(5):
            await session.open()
        assert session.claims.held == {"paper"}
        await session.close()
        assert await claim_keys(raw, key_prefix) == []
    finally:
        for desk in (first, second):
            if desk is not None and desk.returncode is None:
                desk.kill()
                await desk.wait()
        await raw.aclose()


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["claim", "release", "delete"]),
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["", "a", "b", "c"]),
    ),
    max_size=30,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=STEPS)
async def test_a_hand_deleting_the_claim_key_changes_no_holder(
    redis_server: RedisServer, steps: list[tuple[str, str, str]]
) -> None:
    """Against the model of one holder at a time (a free claim, the holder's own or the
    named one to replace goes to the claimant; a release by its holder frees it), with
    another hand deleting the claim key at any point: a deletion changes nothing."""
    prefix = f"t-{uuid.uuid4().hex}"
    bus = create_bus(redis_server.url, BusOptions(prefix=prefix))
    await bus.start()
    raw = Redis.from_url(redis_server.url)
    key = bus.layout.claim("paper")
    holder: str | None = None
    try:
        for step, who, replacing in steps:
            if step == "claim":
                if holder is None or holder == who or (replacing and holder == replacing):
                    holder = who
                claim = await bus.claim(key, who, 60_000, replacing=replacing)
                assert claim.holder == holder
                assert 0 < claim.ttl_ms <= 60_000
            elif step == "release":
                released = holder == who
                if released:
                    holder = None
                assert await bus.release(key, who) is released
            else:
                await raw.delete(key)
        if holder is None:
            assert [k async for k in raw.scan_iter(match=f"{prefix}:claim:*")] == []
    finally:
        await raw.aclose()
        await bus.close()
