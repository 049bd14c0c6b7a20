"""A modify handed to its broker just before Redis stalled (SIGSTOP: a frozen VM, a
network dropping packets) waits in its journal writes (the change's intent and
PENDING_REPLACE) while the kill switch is pulled or the desk's claim lapses. The broker
asks the engine again once those writes are done, as it does for a new order
(`Broker._refuse_change_if_held`, `send_guard`): refused, nothing goes to the venue,
the journal's PENDING_REPLACE goes back to the order's status with why, and the order
works on at its old terms. Before, the change went to the paper venue after HALTED (or
after "Claims not renewed ... nothing is sent"). On a real Redis."""

from __future__ import annotations

import asyncio
import os
import signal
from decimal import Decimal

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine import Session
from silvertine_tui.events import OrderUpdateEvent
from tests.support.desks import resting_buy, until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

OLD = Decimal("63000")  # resting_buy's limit
NEW = Decimal("62500")


def settings(url: str, prefix: str, claim_ttl_s: float) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "symbols": ["BTCUSDT"],
                    "market": {"autorun": False},
                    "latency": {"ack_ms": 0, "cancel_ms": 0, "jitter_ms": 0},
                }
            ],
            "engine": {"claim_ttl_s": claim_ttl_s},
        }
    )


async def working_buy(session: Session) -> tuple[PaperBroker, str]:
    """resting_buy NEW on the desk and in the journal."""
    [paper] = session.brokers
    assert isinstance(paper, PaperBroker)
    cid = await resting_buy(session, "paper")
    await until(
        lambda: (
            (view := session.engine.oms.get(cid)) is not None
            and view.order.status is OrderStatus.NEW
        )
    )
    return paper, cid


async def updates_of(session: Session, cid: str) -> list[tuple[OrderStatus, str]]:
    stream = session.bus.layout.exec("paper", "main")
    return [
        (e.event.payload.status, e.event.payload.reason)
        for e in await session.bus.read(stream)
        if isinstance(e.event, OrderUpdateEvent) and e.event.payload.client_order_id == cid
    ]


async def test_a_modify_held_in_its_journal_write_past_the_claim_s_lapse_is_not_sent(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        session = Session(settings(server.url, key_prefix, 1.0))  # lapsed 0.5 s into a stall
        await session.start()
        pid = server.pid
        assert pid is not None
        stopped = False
        try:
            paper, cid = await working_buy(session)
            os.kill(pid, signal.SIGSTOP)
            stopped = True
            # Handed over at once (the claim still fresh), then held in the journal.
            change = asyncio.create_task(session.engine.modify(cid, limit_price=NEW))
            with pytest.raises(OrderRejected, match=rf"^modify of {cid} not sent: .*claim") as no:
                await asyncio.wait_for(change, 30)
            assert "could not renew its claim" in str(no.value)
            assert str(no.value).endswith("; the order works on unchanged at its old terms")
            # The order's history says the same of it.
            said = "modify " + str(no.value).removeprefix(f"modify of {cid} ")
            # The venue never had the change: the order rests at its old price.
            [at_venue] = await paper.open_orders()
            assert (at_venue.client_order_id, at_venue.limit_price) == (cid, OLD)
            os.kill(pid, signal.SIGCONT)
            stopped = False
            # The journal's PENDING_REPLACE is resolved once Redis takes the writes: NEW
            # again, saying why; the desk reads the order NEW at its old terms.
            async with asyncio.timeout(20):
                while (OrderStatus.NEW, said) not in (updates := await updates_of(session, cid)):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert updates[-2:] == [(OrderStatus.PENDING_REPLACE, ""), (OrderStatus.NEW, said)]
            await until(lambda: session.engine.oms.orders[cid].order.reason == said)
            order = session.engine.oms.orders[cid].order
            assert (order.status, order.limit_price) == (OrderStatus.NEW, OLD)
        finally:
            if stopped:
                os.kill(pid, signal.SIGCONT)
            await asyncio.wait_for(session.close(), 20)


async def test_a_modify_held_in_its_journal_write_as_the_kill_is_pulled_is_not_sent(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        session = Session(settings(server.url, key_prefix, 60.0))
        await session.start()
        pid = server.pid
        assert pid is not None
        stopped = False
        try:
            paper, cid = await working_buy(session)
            os.kill(pid, signal.SIGSTOP)
            stopped = True
            change = asyncio.create_task(session.engine.modify(cid, limit_price=NEW))
            await asyncio.sleep(0.05)  # in its journal write
            kill = asyncio.create_task(session.engine.kill("kill switch (UI)"))
            with pytest.raises(
                OrderRejected, match=rf"^modify of {cid} not sent: trading is HALTED"
            ):
                await asyncio.wait_for(change, 30)
            await asyncio.wait_for(kill, 60)
            # The kill cancelled the order at its old price: the change never reached it.
            order = paper.venue.order(cid)
            assert order is not None
            assert (order.status, order.limit_price) == (OrderStatus.CANCELED, OLD)
        finally:
            if stopped:
                os.kill(pid, signal.SIGCONT)
            await asyncio.wait_for(session.close(), 30)
