"""Two desks must never drive one broker at once (engine/claims.py), also when Redis
loses the claim key (a restart without persistence) or a desk is held past its claim's
ttl (SIGSTOP, a long pause, a blocked event loop). On a real Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.engine.claims import BrokerClaimedError, DeskId
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.events import LogEvent
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

ELSEWHERE = DeskId(desk="b", host="trading-host-2", pid=1, since=datetime(2026, 1, 2, tzinfo=UTC))
"""Another desk, on another host: what its claim holds."""


def settings(url: str, prefix: str, **engine: Any) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "symbols": ["BTCUSDT"],
                    "market": {"autorun": False},
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


def resting_buy(cid: str, session: Session) -> OrderRequest:
    """A buy 1% under the paper venue's mid: it rests."""
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
        tif=TimeInForce.GTC,
    )


async def until(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - the desks change on their own tasks
            await asyncio.sleep(0.01)


def status(session: Session, cid: str) -> OrderStatus | None:
    view = session.engine.oms.get(cid)
    return view.order.status if view is not None else None


async def log_lines(session: Session) -> list[str]:
    entries = await session.bus.read(session.bus.layout.health)
    return [e.event.payload.message for e in entries if isinstance(e.event, LogEvent)]


async def test_a_desk_started_just_after_a_redis_restart_is_refused_and_the_old_desk_trades_on(
    key_prefix: str,
) -> None:
    """Redis restarts empty: the claim key is gone while desk A still drives `paper`.
    Desk B, started at once on the same host, finds that Redis no longer holds the
    epoch this host's desk used and takes the claim only pending (or finds it claimed
    again already, if A's bus found the restart first); A claims the broker back (its
    bus at once, on finding the restart), and B's start is refused: B never connects,
    A trades on. Before, B took the free key at once and both desks sent orders to
    paper/main, A learning it only at its next renewal."""
    with RedisServer() as server:
        a = Session(settings(server.url, key_prefix, claim_ttl_s=2.0))
        await a.start()
        b: Session | None = None
        raw = Redis.from_url(server.url)
        try:
            await server.arestart()  # every key gone, the claim with them
            b = Session(settings(server.url, key_prefix, claim_ttl_s=2.0))
            with pytest.raises(BrokerClaimedError) as refused:
                await asyncio.wait_for(b.start(), 10)
            assert b.progress.text().startswith("start-up failed: broker paper is driven by")
            assert [c.broker for c in refused.value.conflicts] == ["paper"]
            assert refused.value.conflicts[0].holder == a.claims.desk
            assert not b.ready
            assert b.brokers[0].venue.open_orders() == []  # type: ignore[attr-defined]
            # Desk A holds its broker, on the restarted Redis too, and trades.
            held = await raw.get(a.bus.layout.claim("paper"))
            assert isinstance(held, bytes)
            assert held.decode() == a.claims.value
            assert a.claims.held == {"paper"}
            assert not a.claims.lost
            await until(lambda: a.not_ready == "", 10)
            cid = await a.engine.submit(market_buy("after-restart-a"))
            await until(lambda: (v := a.engine.oms.get(cid)) is not None and v.order.filled_qty > 0)
            lines = await log_lines(a)
            assert not any("this desk sends nothing more" in line for line in lines)
        finally:
            await raw.aclose()
            if b is not None:
                await b.close()
            await a.close()


async def test_a_desk_started_after_its_journal_was_lost_claims_pending_for_a_ttl_and_says_why(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Redis no longer holds the epoch this host's desk last used (here: the prefix's
    keys flushed after it quit): a free claim key cannot be told from one lost while a
    desk still drives the broker, so the next desk takes its claims pending, says why
    on its start-up banner and in the log, and connects its brokers only once a ttl is
    over. Meanwhile another desk is refused as usual, and the claim is this desk's
    outright afterwards. Before, it took the key and connected at once."""
    url = redis_server.url
    first = Session(settings(url, key_prefix, claim_ttl_s=1.5))
    await first.start()
    await first.close()  # its record: the epoch it used
    raw = Redis.from_url(url)
    layout = first.bus.layout
    b = Session(settings(url, key_prefix, claim_ttl_s=1.5))
    other = Session(settings(url, key_prefix, claim_ttl_s=1.5))
    try:
        keys = [key async for key in raw.scan_iter(match=f"{key_prefix}:*")]
        await raw.delete(*keys)  # the journal lost while no desk ran
        banners: list[str] = []

        async def banner() -> None:  # what B's start-up banner says, as the UI polls it
            while True:
                banners.append(b.progress.text())
                await asyncio.sleep(0.01)

        watching = asyncio.create_task(banner())
        began = time.monotonic()
        try:
            await b.open()
            pending = await raw.get(layout.claim("paper") + ":pending")
            assert pending is not None, "the claim was taken outright at once"
            assert b.claims.deferred == ["paper"]
            with pytest.raises(BrokerClaimedError):  # a pending claim is a claim
                await other.open()
            await asyncio.wait_for(b.start(), 10)
        finally:
            watching.cancel()
        assert time.monotonic() - began >= 1.5
        waiting = [text for text in banners if text.startswith("waiting to claim the brokers")]
        assert waiting, banners
        assert "Redis no longer holds the journal this host's desk last used" in waiting[0]
        assert b.ready
        assert b.not_ready == ""
        assert not b.claims.deferred
        held = await raw.get(layout.claim("paper"))
        assert isinstance(held, bytes)
        assert held.decode() == b.claims.value
        assert await raw.get(layout.claim("paper") + ":pending") is None  # outright now
        lines = await log_lines(b)
        said = [line for line in lines if "claims broker(s) paper pending for" in line]
        assert len(said) == 1
        assert "before it connects them: Redis no longer holds the journal" in said[0]
    finally:
        await raw.aclose()
        await b.close()


async def test_a_desks_claims_are_back_at_once_after_a_restart_before_the_epoch_key(
    key_prefix: str,
) -> None:
    """Its bus finds the restart (within `epoch_check_s`, 1 s) and claims every broker
    again before it sets the epoch key: a desk started meanwhile either finds the epoch
    key missing (and waits) or finds the claims. Before, the claims came back only with
    the next renewal (every third of the ttl: 20 s here), the epoch key first."""
    with RedisServer() as server:
        a = Session(settings(server.url, key_prefix, claim_ttl_s=60.0))
        await a.open()  # claimed (pending: this Redis is new), the keeper running
        raw = Redis.from_url(server.url)
        layout = a.bus.layout
        try:
            await server.arestart()
            async with asyncio.timeout(5):
                while True:
                    epoch, claim = await raw.mget(layout.epoch_key, layout.claim("paper"))
                    if epoch is not None:
                        break
                    await asyncio.sleep(0.002)
            assert claim is not None, "the epoch key was set again before the claim"
            assert isinstance(claim, bytes)
            assert claim.decode() == a.claims.value
        finally:
            await raw.aclose()
            await a.close()


async def test_a_desk_that_lost_its_broker_with_the_data_does_not_reseed_its_journal(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Redis lost this prefix's keys (a flush) and another desk took the broker before
    this one claimed it back: this desk's resync leaves that broker alone. Before, it
    re-seeded its paper account into the journal the other desk drives (when its bus
    found the loss before its next renewal found the claim taken: the flush comes
    right after a renewal, the next one 2 s later, the bus looks every second)."""
    a = Session(settings(redis_server.url, key_prefix, claim_ttl_s=6.0))
    await a.start()
    raw = Redis.from_url(redis_server.url)
    layout = a.bus.layout
    try:
        resting = await a.engine.submit(resting_buy("resting-a", a))
        await until(lambda: status(a, resting) is OrderStatus.NEW)
        journal = layout.exec("paper", "main")
        renewed = a.claims.renewed_at
        await until(lambda: a.claims.renewed_at != renewed, 5)
        async with raw.pipeline(transaction=True) as flush:  # one step: no desk between
            keys = [key async for key in raw.scan_iter(match=f"{key_prefix}:*")]
            flush.delete(*keys)
            flush.set(layout.claim("paper"), ELSEWHERE.model_dump_json(), px=10_000)
            await flush.execute()
        await until(lambda: "paper" in a.claims.lost, 5)
        await until(lambda: a.bus.stats.data_loss_detected == 1, 5)
        await asyncio.sleep(1.0)  # the resync's work, had there been any
        assert await raw.xlen(journal) == 0
        assert not any("Paper venue re-seeded" in alert.title for alert in a.alerts)
        assert a.not_ready_rule == "claim_lost"
    finally:
        await raw.aclose()
        await a.close()


async def test_a_desk_held_past_its_ttl_sends_nothing_when_it_resumes(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """The desk's event loop is held (a blocking call here; SIGSTOP or a long pause do
    the same) past its claim's ttl, and another desk takes the broker meanwhile. On
    resuming, before its claims' keeper has run, an order and a change of a working
    order are refused (`claim_lapsed`, with what to do) and nothing reaches the venue.
    Before, `not_ready` was still "" (only the keeper sets it) and both went out."""
    a = Session(settings(redis_server.url, key_prefix, claim_ttl_s=1.0))
    await a.start()
    key = a.bus.layout.claim("paper")
    sync = redis.Redis.from_url(redis_server.url)
    took: list[float] = []

    def desk_b() -> None:  # takes the broker once A's claim has lapsed, as a desk does
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not took:
            if sync.set(key, ELSEWHERE.model_dump_json(), nx=True, px=15_000):
                took.append(time.monotonic())
            time.sleep(0.01)

    try:
        resting = await a.engine.submit(resting_buy("resting-1", a))
        await until(lambda: status(a, resting) is OrderStatus.NEW)
        [paper] = a.brokers
        thread = threading.Thread(target=desk_b)
        thread.start()
        time.sleep(1.6)  # noqa: ASYNC251 - the point: desk A's loop is held past its ttl
        thread.join()
        assert took, "desk B did not take the broker"
        # Resumed: nothing has run on A's loop since (no await before the submit).
        with pytest.raises(RiskRejected) as refused:
            await a.engine.submit(market_buy("after-pause-1"))
        [violation] = refused.value.violations
        assert violation.rule == "claim_lapsed"
        assert "could not renew its claim" in violation.message
        assert "trade from that desk" in violation.message
        assert a.engine.oms.get("after-pause-1") is None
        assert [o.client_order_id for o in paper.venue.open_orders()] == [resting]  # type: ignore[attr-defined]
        with pytest.raises(RiskRejected) as refused:
            await a.engine.modify(resting, quantity=Decimal("0.02"))
        assert refused.value.violations[0].rule in ("claim_lapsed", "claim_lost")
        [held] = [o for o in await paper.open_orders() if o.client_order_id == resting]
        assert held.quantity == Decimal("0.01")  # the change did not go out
        assert status(a, resting) is OrderStatus.NEW
        await until(lambda: bool(a.claims.lost), 5)
        assert a.not_ready_rule == "claim_lost"
    finally:
        sync.close()
        await a.close()


async def test_not_ready_says_a_lapse_when_read_before_the_keeper_runs(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """`not_ready` (the ticket's first problem) is read from the clock too: a desk whose
    loop was held past half its claim's ttl shows `claim_lapsed` at once, and "" again
    once its keeper has renewed the claim (no other desk took it)."""
    a = Session(settings(redis_server.url, key_prefix, claim_ttl_s=1.0))
    await a.start()
    try:
        assert a.not_ready == ""
        time.sleep(0.8)  # noqa: ASYNC251 - the loop held past half the ttl, not the whole
        assert a.not_ready_rule == "claim_lapsed"
        assert a.claims_lapsed
        await until(lambda: a.not_ready == "", 5)
        assert a.claims.held == {"paper"}
        assert not a.claims.lost
        await a.engine.submit(market_buy("renewed-1"))
    finally:
        await a.close()
