"""A desk on Redis, the paper broker, the journal's normal trim by age behind a
snapshot (`journal_retention_s`, 7 days; 2 s here): a restart keeps the paper account
whole. The venue is rebuilt from its journal alone, so its journal is never trimmed
(`recovery.journal_kept_whole`); it was, and the restart lost the GTC order resting
since before the cut (the reconcile cancelled it, "no longer open at the venue") and
the position bought before it (POSITION_MISMATCH: the venue's 0 taken over the desk's
0.01 BTC, its cash still spent)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from tests.support.redis_server import RedisServer
from tests.support.session_child import applied_all, until

pytestmark = pytest.mark.redis
SYMBOL = "BTCUSDT.PAPER"


def settings(url: str, prefix: str) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix, "journal_retention_s": 2},
            "brokers": [{"name": "paper", "type": "paper", "symbols": ["BTCUSDT"]}],
        }
    )


def order(side: Side, kind: OrderType, qty: str, price: Decimal | None) -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument=SYMBOL,
        side=side,
        order_type=kind,
        quantity=Decimal(qty),
        limit_price=price,
        tif=TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.GTC,
    )


async def test_a_restart_after_the_trim_by_age_keeps_the_paper_account(
    redis_server: RedisServer, key_prefix: str
) -> None:
    # A day's journal fills Redis's stream nodes (100 entries each), which is what an
    # approximate MINID trim drops whole; nodes of 4 entries (this test's own server)
    # let the trim act on this short journal as on a full day's.
    raw = aioredis.from_url(redis_server.url)
    await raw.config_set("stream-node-max-entries", 4)
    await raw.aclose()
    session = Session(settings(redis_server.url, key_prefix))
    await session.start()
    engine = session.engine
    try:
        await until(engine, lambda: engine.last_price(SYMBOL) is not None)
        last = engine.last_price(SYMBOL)
        assert last is not None
        await engine.submit(order(Side.BUY, OrderType.MARKET, "0.01", None))
        await until(engine, lambda: engine.position("paper", "main", SYMBOL) > 0)
        low = (last * Decimal("0.97")).quantize(Decimal("0.01"))
        await engine.submit(order(Side.BUY, OrderType.LIMIT, "0.01", low))
        await until(engine, lambda: len(engine.oms.working()) == 1 and not engine.oms.pending_new())
        await applied_all(session)
        [resting] = [v.client_order_id for v in engine.oms.working()]
        held = engine.position("paper", "main", SYMBOL)
        # Days pass (2 s here); the desk snapshots (every 60 s, or at quit): a journal
        # may be trimmed by age up to the entry the snapshot covers.
        await asyncio.sleep(2.5)
        await session.snapshot()
        cash_before = {k[2]: b.total for k, b in engine.portfolio.balances.items()}
    finally:
        await session.close()

    again = Session(settings(redis_server.url, key_prefix))
    await again.start()
    try:
        await applied_all(again)
        findings = [(r.kind, r.detail) for r in again.reconcile_findings]
        assert findings == []
        view = again.engine.oms.get(resting)
        assert view is not None
        assert view.order.status is OrderStatus.NEW
        assert again.engine.position("paper", "main", SYMBOL) == held
        cash_after = {k[2]: b.total for k, b in again.engine.portfolio.balances.items()}
        assert cash_after == cash_before
    finally:
        await again.close()
