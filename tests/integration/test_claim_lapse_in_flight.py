"""An order handed to its broker just before Redis stalled (SIGSTOP: a frozen VM, a
network dropping packets) waited in its journal writes while the desk's claim lapsed;
once the bus gave up on the write it went to the venue all the same, seconds after the
"Claims not renewed ... nothing is sent until the claim is renewed" toast (a chaos
review: the ticket's order filled at 08:24:36, the toast at 08:24:34). The broker asks
the engine again right before the venue gets it (`Broker.send_guard`): refused, the
order ends REJECTED "not sent: ..." and the venue never sees it. On a real Redis."""

from __future__ import annotations

import asyncio
import os
import signal
from decimal import Decimal

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def settings(url: str, prefix: str) -> Settings:
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
            "engine": {"claim_ttl_s": 1.0},  # lapsed 0.5 s into a stall
        }
    )


def limit_buy() -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        limit_price=Decimal("63000"),
        tif=TimeInForce.GTC,
    )


async def test_an_order_held_in_its_journal_write_past_the_claim_s_lapse_is_not_sent(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        session = Session(settings(server.url, key_prefix))
        await session.start()
        [paper] = session.brokers
        assert isinstance(paper, PaperBroker)
        pid = server.pid
        assert pid is not None
        stopped = False
        try:
            os.kill(pid, signal.SIGSTOP)
            stopped = True
            # Handed over at once (the claim still fresh), then held in the journal.
            sent = asyncio.create_task(session.engine.submit(limit_buy()))
            with pytest.raises(OrderRejected, match=r"^not sent: .*claim") as refused:
                await asyncio.wait_for(sent, 30)
            assert "could not renew its claim" in str(refused.value)
            assert await paper.open_orders() == []  # the venue never had it
            assert paper.venue.fills_since() == []
        finally:
            if stopped:
                os.kill(pid, signal.SIGCONT)
            await asyncio.wait_for(session.close(), 20)
