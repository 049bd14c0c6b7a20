"""One desk drives each broker on a bus (engine/claims.py), on a real Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.engine.claims import BrokerClaimedError, BrokerClaims, DeskId
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.events import HealthEvent, LogEvent
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def settings(url: str, prefix: str, *brokers: str, **engine: Any) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {"name": name, "type": "paper", "symbols": ["BTCUSDT"]}
                for name in brokers or ("paper",)
            ],
            "engine": engine,
        }
    )


async def a_new_desk_drives_paper(url: str, prefix: str) -> None:
    """A desk started now claims `paper` (within 5 s: no waiting for a claim to lapse)."""
    session = Session(settings(url, prefix))
    async with asyncio.timeout(5):
        await session.open()
    assert session.claims.held == {"paper"}
    await session.close()


async def test_a_second_desk_on_the_same_broker_is_refused_before_it_writes_anything(
    redis_server: RedisServer, key_prefix: str
) -> None:
    first = Session(settings(redis_server.url, key_prefix))
    second = Session(settings(redis_server.url, key_prefix))
    await first.open()
    try:
        health = first.bus.layout.health
        written = len(await first.bus.read(health))
        with pytest.raises(BrokerClaimedError) as refused:
            await second.open()
        (conflict,) = refused.value.conflicts
        assert conflict.broker == "paper"
        assert conflict.holder is not None
        assert conflict.holder == first.claims.desk
        assert conflict.holder.pid == os.getpid()
        assert 0 < conflict.ttl_ms <= 15_000
        message = str(refused.value)
        assert "broker paper is driven by another desk on this bus" in message
        assert f"pid {os.getpid()}" in message
        assert "Quit that desk first" in message
        assert "--prefix" in message
        # Refused before it published anything, and its bus is closed again.
        assert len(await first.bus.read(health)) == written
        assert not second.bus.stats.connected
        assert not second.started
        # A desk of other brokers shares the bus.
        other = Session(settings(redis_server.url, key_prefix, "paper2"))
        await other.open()
        await other.close()
    finally:
        await first.close()
    # Closed: the claim is released, and the next desk drives the broker at once.
    await a_new_desk_drives_paper(redis_server.url, key_prefix)


async def test_a_desk_claims_every_broker_or_none(
    redis_server: RedisServer, key_prefix: str
) -> None:
    holder = Session(settings(redis_server.url, key_prefix, "beta"))
    await holder.open()
    both = Session(settings(redis_server.url, key_prefix, "alpha", "beta"))
    try:
        with pytest.raises(BrokerClaimedError) as refused:
            await both.open()
        assert [c.broker for c in refused.value.conflicts] == ["beta"]
        # `alpha`, claimed on the way, was let go again.
        raw = Redis.from_url(redis_server.url)
        try:
            assert await raw.get(both.bus.layout.claim("alpha")) is None
        finally:
            await raw.aclose()
    finally:
        await holder.close()


async def test_a_claim_of_another_host_lapses_after_its_ttl(
    redis_server: RedisServer, key_prefix: str
) -> None:
    elsewhere = DeskId(
        desk="d0", host="trading-host-2", pid=os.getpid(), since=datetime(2026, 1, 2, tzinfo=UTC)
    )
    session = Session(settings(redis_server.url, key_prefix))
    await session.bus.start()
    await session.bus.claim(session.bus.layout.claim("paper"), elsewhere.model_dump_json(), 1_000)
    await session.bus.close()
    session = Session(settings(redis_server.url, key_prefix))
    with pytest.raises(BrokerClaimedError) as refused:
        await session.open()
    assert "host trading-host-2" in str(refused.value)
    assert "since 2026-01-02 00:00:00 UTC" in str(refused.value)
    assert "its claim lapses in 1 s" in str(refused.value)
    await asyncio.sleep(1.2)
    await a_new_desk_drives_paper(redis_server.url, key_prefix)


async def test_a_claim_lost_while_running_stops_the_desk_sending_and_says_so(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """This desk could not renew in time and another desk took the broker (here: its
    claim is overwritten, as that desk's would be once this one's lapsed)."""
    session = Session(settings(redis_server.url, key_prefix, claim_ttl_s=1.0))
    await session.start()
    raw = Redis.from_url(redis_server.url)
    try:
        layout = session.bus.layout
        health_from = (await session.bus.read_last(layout.health, 1))[0].id
        other = DeskId(
            desk="d1", host="trading-host-2", pid=1, since=datetime(2026, 1, 2, tzinfo=UTC)
        )
        await raw.set(layout.claim("paper"), other.model_dump_json(), px=10_000)
        async with asyncio.timeout(5):
            while not session.claims.lost:  # noqa: ASYNC110 - renewed on a timer
                await asyncio.sleep(0.05)
        # Renewing did not take it back.
        held = await raw.get(layout.claim("paper"))
        assert isinstance(held, bytes)
        assert DeskId.parse(held.decode()) == other
        with pytest.raises(RiskRejected) as refused:
            await session.engine.submit(market_order("claim-lost-1"))
        why = str(refused.value)
        assert "this desk sends nothing more" in why
        assert "host trading-host-2" in why
        assert [v.rule for v in refused.value.violations] == ["claim_lost"]
        assert session.not_ready.startswith("this desk sends nothing more")
        assert session.not_ready_rule == "claim_lost"
        # Said in the broker's health and in the log.
        async with asyncio.timeout(5):
            while True:
                entries = await session.bus.read(layout.health, f"({health_from}")
                states = [
                    e.event.payload
                    for e in entries
                    if isinstance(e.event, HealthEvent)
                    and e.event.payload.component == "broker:paper/main"
                    and e.event.payload.state is ConnectionState.DISCONNECTED
                    and "this desk sends nothing more" in e.event.payload.message
                ]
                logs = [e.event.payload for e in entries if isinstance(e.event, LogEvent)]
                if states and logs:
                    break
                await asyncio.sleep(0.05)
        assert "lost its claim. Quit this desk and trade from that one." in states[0].message
        assert any("this desk sends nothing more" in log.message for log in logs)
        # The broker is closed: this desk writes nothing more to that broker's streams.
        exec_stream = layout.exec("paper", "main")
        md_stream = layout.md("paper")
        exec_len = len(await session.bus.read(exec_stream))
        md_last = await session.bus.read_last(md_stream, 1)
        await asyncio.sleep(1.0)
        assert len(await session.bus.read(exec_stream)) == exec_len
        assert await session.bus.read_last(md_stream, 1) == md_last
    finally:
        await raw.aclose()
        await session.close()
    # Closing neither releases what another desk holds nor snapshots its journal.
    raw = Redis.from_url(redis_server.url)
    try:
        assert await raw.get(session.bus.layout.claim("paper")) is not None
        assert await raw.xlen(session.bus.layout.snap("paper", "main")) == 0
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


async def test_a_second_desk_process_exits_4_and_a_killed_desk_is_taken_over_at_once(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path
) -> None:
    first = await _headless(redis_server.url, key_prefix, tmp_path / "a")
    assert first.stderr is not None
    try:
        async with asyncio.timeout(60):
            banner = await first.stderr.readline()
            assert b"headless session on" in banner, banner
            second = await _headless(redis_server.url, key_prefix, tmp_path / "b")
            _, said = await second.communicate()
        assert second.returncode == 4, said.decode()
        text = said.decode()
        assert "not started: another desk drives this desk's brokers" in text
        assert f"pid {first.pid}" in text
        assert f"silvertine watch --bus {redis_server.url} --prefix {key_prefix}" in text
        assert "Traceback" not in text
        first.send_signal(signal.SIGKILL)
        await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    # Its claim is still there (nothing released it), and it is taken over at once:
    # its process is gone on this host.
    raw = Redis.from_url(redis_server.url)
    try:
        left = await raw.get(f"{key_prefix}:claim:paper")
        assert isinstance(left, bytes)
        holder = DeskId.parse(left.decode())
        assert holder is not None
        assert holder.pid == first.pid
        assert 0 < await raw.pttl(f"{key_prefix}:claim:paper") <= 15_000
    finally:
        await raw.aclose()
    await a_new_desk_drives_paper(redis_server.url, key_prefix)


async def test_claims_that_cannot_be_renewed_stop_sending_until_they_are(
    key_prefix: str,
) -> None:
    """Redis refusing writes (out of memory) for longer than the ttl: the renewals fail
    but keep trying, the desk refuses orders and changes of its orders (`claim_lapsed`:
    another desk may drive its brokers by now; a modify went out all the same), and
    sends again once a renewal gets through."""
    with RedisServer() as server:
        session = Session(settings(server.url, key_prefix, claim_ttl_s=1.0))
        await session.start()
        raw = Redis.from_url(server.url)
        try:
            assert session.not_ready == ""
            resting = await session.engine.submit(resting_order("resting-1", session))
            async with asyncio.timeout(5):
                while session.engine.oms.get(resting) is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            await raw.config_set("maxmemory", 1)  # every write refused: OOM
            async with asyncio.timeout(5):
                while session.not_ready_rule != "claim_lapsed":  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert session.claims.renew_failures >= 2
            assert "could not renew its claim" in session.not_ready
            with pytest.raises(RiskRejected) as refused:
                await session.engine.submit(market_order("lapsed-1"))
            assert [v.rule for v in refused.value.violations] == ["claim_lapsed"]
            with pytest.raises(RiskRejected) as refused:
                await session.engine.modify(resting, quantity=Decimal("0.02"))
            assert [v.rule for v in refused.value.violations] == ["claim_lapsed"]
            [held] = [
                o for o in await session.brokers[0].open_orders() if o.client_order_id == resting
            ]
            assert held.quantity == Decimal("0.01")  # nothing went to the venue

            await raw.config_set("maxmemory", 0)
            async with asyncio.timeout(5):
                while session.not_ready:  # noqa: ASYNC110 - renewed on a timer
                    await asyncio.sleep(0.05)
            assert session.claims.held == {"paper"}
            assert not session.claims.lost
            await session.engine.submit(market_order("renewed-1"))
        finally:
            await raw.config_set("maxmemory", 0)
            await raw.aclose()
            await session.close()


def resting_order(cid: str, session: Session) -> OrderRequest:
    """A buy 1% under the paper venue's BTC mid: it rests."""
    [paper] = session.brokers
    mid = paper.venue.mid("BTCUSDT.PAPER")  # type: ignore[attr-defined]
    return OrderRequest(
        client_order_id=cid,
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        limit_price=(mid * Decimal("0.99")).quantize(Decimal("0.01")),
    )


def market_order(cid: str) -> OrderRequest:
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


async def test_a_claim_lost_with_the_data_of_a_redis_restart_is_taken_again(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        session = Session(settings(server.url, key_prefix, claim_ttl_s=1.0))
        await session.open()
        raw = Redis.from_url(server.url)
        try:
            await server.arestart()  # no persistence: every key is gone
            key = session.bus.layout.claim("paper")
            async with asyncio.timeout(10):
                while await raw.get(key) is None:  # noqa: ASYNC110 - renewed on a timer
                    await asyncio.sleep(0.05)
            held = await raw.get(key)
            assert isinstance(held, bytes)
            assert held.decode() == session.claims.value
            assert not session.claims.lost
        finally:
            await raw.aclose()
            await session.close()


async def test_a_claim_found_taken_is_told_even_when_the_rest_of_its_round_fails(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """`paper` is found held by another desk, then renewing `paper2` fails (its key is
    a list: Redis answers WRONGTYPE) in the same round: the loss is told all the same."""
    session = Session(settings(redis_server.url, key_prefix, "paper", "paper2", claim_ttl_s=1.0))
    await session.start()
    raw = Redis.from_url(redis_server.url)
    try:
        layout = session.bus.layout
        other = DeskId(
            desk="d3", host="trading-host-2", pid=1, since=datetime(2026, 1, 2, tzinfo=UTC)
        )
        pipe = raw.pipeline(transaction=True)
        pipe.delete(layout.claim("paper2"))
        pipe.lpush(layout.claim("paper2"), "not a claim")
        pipe.set(layout.claim("paper"), other.model_dump_json(), px=10_000)
        await pipe.execute()
        # The loss is told as soon as it is recorded, before the round's failed
        # renewal of paper2 is counted: both are waited for.
        async with asyncio.timeout(5):
            while (  # noqa: ASYNC110
                session.not_ready_rule != "claim_lost" or session.claims.renew_failures < 1
            ):
                await asyncio.sleep(0.05)
        assert "broker paper is driven by another desk now" in session.not_ready
        assert set(session.claims.lost) == {"paper"}
    finally:
        await raw.delete(session.bus.layout.claim("paper2"))
        await raw.aclose()
        await session.close()


async def test_a_desk_that_lost_its_claim_finds_it_free_once_the_taker_quits(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Read on Redis (`RedisBus.claim_holder`): the desk that took `paper` quits and
    releases its claim; the desk that lost it says so at its keeper's next round, and
    never takes it back while it runs."""
    first = Session(settings(redis_server.url, key_prefix, claim_ttl_s=1.0))
    await first.open()
    try:
        key = first.bus.layout.claim("paper")
        taker = DeskId(desk="taker", host="host-2", pid=42, since=datetime(2026, 1, 2, tzinfo=UTC))
        value = taker.model_dump_json()
        await first.bus.claim(key, value, 60_000, replacing=first.claims.value)
        async with asyncio.timeout(10):
            while "paper" not in first.claims.lost:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert await first.bus.claim_holder(key) == value
        assert first.claims.lost["paper"].left == ""
        assert await first.bus.release(key, value)
        async with asyncio.timeout(10):
            while not first.claims.lost["paper"].left:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert await first.bus.claim_holder(key) is None  # looked at, not taken
        assert "paper" not in first.claims.held
    finally:
        await first.close()


async def test_a_lost_claims_key_deleted_by_another_hand_is_not_read_free(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The key of a claim another desk took is deleted by another hand (`DEL`): the
    claim is its copy's (`_CLAIM`), and the desk that lost it does not say it free
    (a restart would be refused); the review's case."""
    bus = create_bus(redis_server.url, BusOptions(prefix=key_prefix))
    await bus.start()
    try:
        lost = BrokerClaims(bus, ["paper"], 15)
        await lost.take()
        taker = DeskId(desk="d2", host="host-2", pid=42, since=datetime(2026, 1, 2, tzinfo=UTC))
        key = bus.layout.claim("paper")
        await bus.claim(key, taker.model_dump_json(), 15_000, replacing=lost.value)
        assert [c.broker for c in await lost.renew()] == ["paper"]
        redis = Redis.from_url(redis_server.url)
        try:
            await redis.delete(key)
        finally:
            await redis.aclose()
        await lost.follow_lost()
        assert lost.lost["paper"].left == ""
        assert lost.lost["paper"].holder_name() == "desk host-2 pid 42"
    finally:
        await bus.close()
