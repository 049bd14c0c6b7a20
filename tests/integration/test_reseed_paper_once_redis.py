"""A fill Redis lost before the desk read it counts once in the paper venue after a
re-seed and a restart (a `redis-server` of the test's own, no persistence).

The paper venue sells 0.01 BTC (F) and journals it; Redis restarts empty before the
desk's reader has read it (the relay in front of Redis holds the reader's answer back
past the reader's own timeout, so it never comes). The desk finds the loss, the paper
venue re-seeds its journal from memory (F is in the positions and balances it writes
back), and the reconcile that follows journals F again (a missed fill: the desk never
had it), after the re-seed. The desk counts F once (`Portfolio.take_standing`). The
paper venue rebuilt from that journal on the next start counted it twice: the re-seed's
account, then F on top of it (0.01 BTC less than it held, and F's proceeds twice); the
restart's reconcile then took the venue's wrong position over the desk's.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.config import Settings
from silvertine_tui.domain import Side, plain
from silvertine_tui.engine import Session
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import ReconcileKind
from tests.integration.test_reseed_realized import (
    BTC,
    PAPER_ALERT,
    figures,
    hand_driven,
    market,
    paper,
    quote,
    trade,
)
from tests.support.redis_relay import RedisRelay
from tests.support.redis_server import RedisServer
from tests.support.session_child import applied_all
from tests.support.waiting import until

pytestmark = pytest.mark.redis

BLOCK_MS = 2_000
# The reader's socket timeout is `block_ms` + 3 s (`READER_TIMEOUT_MARGIN_S`): an answer
# held back longer never reaches it (it gives up and reads again, from Redis restarted).
HELD_BACK_S = BLOCK_MS / 1000 + 4.0


def slow_reader(url: str, prefix: str) -> Settings:
    settings = hand_driven(url, prefix)
    bus = settings.bus.model_copy(update={"block_ms": BLOCK_MS})
    return settings.model_copy(update={"bus": bus})


def venue_account(broker: PaperBroker) -> dict[str, object]:
    """The paper venue's own account: every position it booked, and its cash."""
    account = broker.venue.account
    return {
        "positions": {
            key: (p.quantity, p.avg_price, p.realized_pnl, p.fees)
            for key, p in sorted(account.positions.items())
        },
        "cash": {c: account.cash_state(c).total for c in sorted(account.cash)},
    }


async def test_a_fill_lost_before_the_desk_read_it_counts_once_in_the_paper_venue(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        async with RedisRelay(server.host, server.port) as relay:
            session = Session(slow_reader(relay.url, key_prefix))
            await session.start()
            try:
                await quote(session, BTC, Decimal("65000.00"))
                await trade(session, Side.BUY, BTC, "0.03")
                await quote(session, BTC, Decimal("65005.01"))
                await trade(session, Side.SELL, BTC, "0.01")  # read by the desk
                broker = paper(session)
                venue = broker.venue.account

                # The desk's reader hears nothing more from this Redis.
                relay.delay_reply_on(b"XREAD", HELD_BACK_S)
                await until(lambda: not relay.armed, 30.0, "the reader's next XREAD")
                asked = asyncio.get_running_loop().time()
                held = venue.positions[BTC].quantity
                await session.engine.submit(market(Side.SELL, BTC, "0.01"))  # F
                sold = held - Decimal("0.01")
                await until(lambda: venue.positions[BTC].quantity == sold, 30.0, "F")
                await broker.settle()  # F is in Redis
                [f] = (await broker.reconcile(since_ns=0)).fills[-1:]
                assert not session.engine.portfolio.fill_seen("paper", "main", f.exec_id)

                await server.akill()
                await server.arestart()  # empty
                for _ in range(600):
                    if [a for a in session.alerts if a.title == PAPER_ALERT] and (
                        await latest_snapshot(session.bus, "paper", "main")
                    ):
                        break
                    await asyncio.sleep(0.05)
                await applied_all(session)
                assert [a for a in session.alerts if a.title == PAPER_ALERT]
                # The reconcile journaled F again, after the re-seed.
                missed = [
                    r for r in session.reconcile_findings if r.kind is ReconcileKind.MISSED_FILL
                ]
                assert [r.venue for r in missed] == [
                    f"SELL 0.01 @ {plain(f.price)} ({f.exec_id})"
                ], session.reconcile_findings
                assert session.engine.portfolio.fill_seen("paper", "main", f.exec_id)
                live = venue_account(broker)
                desk = figures(session)
                assert desk["positions"][BTC][0] == Decimal("0.01")  # type: ignore[index]
            finally:
                await session.close()

            restarted = Session(slow_reader(relay.url, key_prefix))
            await restarted.start()
            try:
                await applied_all(restarted)
                rebuilt = paper(restarted)
                assert rebuilt.journal is not None
                assert rebuilt.journal.reseeded
                assert venue_account(rebuilt) == live
                assert figures(restarted) == desk
                assert restarted.reconcile_findings == []
            finally:
                await restarted.close()
            # The relay lets go of the answer it holds back (answered within `block_ms`
            # of the ask, held `HELD_BACK_S`) within the 5 s its close waits.
            left = asked + BLOCK_MS / 1000 + HELD_BACK_S - 4.0 - asyncio.get_running_loop().time()
            await asyncio.sleep(max(left, 0.0))
