"""Entries deleted from a journal's middle while no desk ran (another hand's XDEL) are
said at start, as such: once, an ERROR Log line (a toast), naming the stream, the newest
id deleted and what it means (`recovery.journal_deleted`). Before, the start only found
a journal whose first entries were trimmed: a fill XDELed from the middle of the paper
journal after a `kill -9` left only the reconcile's position mismatch ("we held 0.01,
the venue holds 0.03 ... check the fills at the venue", where the venue is the paper
simulator rebuilt from that same journal) and realized P&L short of the fill's fee, with
nothing naming a deletion; with no snapshot the deletion was counted as "the journal's
first 1 entries were trimmed".

Redis 7's XINFO STREAM tells them apart: an XDEL sets `max-deleted-entry-id`, a trim
leaves it, so a journal whose newest deleted id is at or after its first entry lost
entries from its middle (or its end).

Run as a module, this file is the desk that is killed:

    python -m tests.integration.test_journal_xdel_said REDIS_URL PREFIX
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from decimal import Decimal as D
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import BusOptions, EventBus
from silvertine_tui.bus.base import StreamInfo, parse_id
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session, recovery
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import recover, replay_stream, write_snapshot
from silvertine_tui.events import LogEvent, LogLevel, ReconcileKind
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue, scripted_fill
from tests.support.redis_server import RedisServer
from tests.support.session_child import applied_all, until
from tests.support.session_child import settings as desk_settings

pytestmark = pytest.mark.redis

SAID = "lost entries from its middle"
SYMBOL = "BTCUSDT.PAPER"


async def deletions_said(bus: EventBus) -> list[str]:
    """The ERROR Log lines on the bus that say a journal lost entries from its middle."""
    return [
        e.event.payload.message
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, LogEvent)
        and e.event.payload.level is LogLevel.ERROR
        and SAID in e.event.payload.message
    ]


# -- the start's check, on a journal of fills -------------------------------------------


async def journal_fills(bus: RedisBus, *ns: int) -> list[str]:
    """Fills `e<n>` journaled on scripted/main: their entry ids."""
    ids = [await bus.publish(scripted_fill(n)) for n in ns]
    assert all(ids)
    return [i for i in ids if i is not None]


@pytest.mark.parametrize(
    ("deleted", "said"),
    [(1, True), (2, True), (0, False)],
    ids=["middle", "last", "first"],
)
async def test_an_xdel_from_the_journal_is_said_unless_it_reads_as_a_trim(
    redis_server: RedisServer, key_prefix: str, deleted: int, said: bool
) -> None:
    """No snapshot, fills e1..e3, one XDELed: from the middle or the end, said once as a
    deletion (the newest id deleted named), and not counted as the first entries
    trimmed; the first one's XDEL leaves the journal as a trim would, and is said as the
    gap it is (`journal_gap`)."""
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        ids = await journal_fills(bus, 1, 2, 3)
        assert await raw.xdel(stream, ids[deleted]) == 1
        again = TradingEngine(bus, [venue], RiskConfig())
        await recover(again, [("scripted", "main")])
        assert again.portfolio.position("scripted", "main", INSTRUMENT.key) == D(2)
        found = await deletions_said(bus)
        if said:
            [message] = found
            assert message.startswith(f"{stream} {SAID}")
            assert f"the newest deleted is {ids[deleted]}, after its first entry {ids[0]}" in (
                message
            )
            assert "and there is no snapshot" in message
            assert "another hand's XDEL" in message
            assert "check the orders and fills at the venue" in message
            assert "paper venue" not in message
            # Not "the journal's first 1 entries were trimmed": they were not.
            assert AnomalyKind.JOURNAL_GAP not in again.anomalies.counts, again.anomalies.last
        else:
            assert found == []
            assert again.anomalies.counts == {AnomalyKind.JOURNAL_GAP: 1}
            assert "the journal's first 1 entries were trimmed" in again.anomalies.last
    finally:
        await raw.aclose()
        await bus.close()


async def test_a_trim_of_the_journal_is_no_deletion_from_its_middle(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """XTRIM MINID and MAXLEN (another build's trim behind lost snapshots): the gap of
    the first entries, said as before, and no deletion from the middle."""
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        ids = await journal_fills(bus, 1, 2, 3, 4)
        await raw.xtrim(stream, minid=ids[1], approximate=False)
        await raw.xtrim(stream, maxlen=2, approximate=False)
        info = await bus.info(stream)
        assert info is not None
        assert not info.deleted_within
        again = TradingEngine(bus, [venue], RiskConfig())
        await recover(again, [("scripted", "main")])
        assert await deletions_said(bus) == []
        assert "the journal's first 2 entries were trimmed" in again.anomalies.last
    finally:
        await raw.aclose()
        await bus.close()


@pytest.mark.parametrize("after_snapshot", [True, False], ids=["after", "behind"])
async def test_an_xdel_is_said_when_the_start_replays_across_it(
    redis_server: RedisServer, key_prefix: str, after_snapshot: bool
) -> None:
    """With a snapshot: an XDEL after the entry it covers is what this start replays
    across (said, the snapshot's entry named); one behind it is in the snapshot (written
    before the deletion, or by a desk that said it as it started): nothing is said."""
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        live = TradingEngine(bus, [venue], RiskConfig())
        ids = await journal_fills(bus, 1, 2, 3)
        await replay_stream(live, stream)
        assert await write_snapshot(live, "scripted", "main")  # covers e3
        ids += await journal_fills(bus, 4)
        gone = ids[3] if after_snapshot else ids[1]
        assert await raw.xdel(stream, gone) == 1
        again = TradingEngine(bus, [venue], RiskConfig())
        await recover(again, [("scripted", "main")])
        held = again.portfolio.position("scripted", "main", INSTRUMENT.key)
        assert held == (D(3) if after_snapshot else D(4))
        found = await deletions_said(bus)
        if after_snapshot:
            [message] = found
            assert f"the newest deleted is {gone}" in message
            assert f"after the entry {ids[2]} the snapshot covers" in message
        else:
            assert found == []
        assert again.anomalies.total == 0, again.anomalies.last
    finally:
        await raw.aclose()
        await bus.close()


async def test_a_watching_desk_writes_nothing_of_its_own(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """A watching desk (`say` given) recovers across the same deletion: it journals
    nothing (the driving desk that starts says it)."""
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    notes: list[str] = []

    async def say(message: str) -> None:
        notes.append(message)

    try:
        venue = ScriptedVenue.build(bus)
        stream = bus.layout.exec("scripted", "main")
        ids = await journal_fills(bus, 1, 2, 3)
        assert await raw.xdel(stream, ids[1]) == 1
        watching = TradingEngine(bus, [venue], RiskConfig())
        await recover(watching, [("scripted", "main")], say=say)
        assert await deletions_said(bus) == []
        assert notes == []
    finally:
        await raw.aclose()
        await bus.close()


# -- the invariant, against Redis itself -------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 3)),
        st.tuples(st.just("xdel"), st.integers(0, 30)),
        st.tuples(st.just("minid"), st.integers(0, 30)),
        st.tuples(st.just("maxlen"), st.integers(0, 6)),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
async def test_deleted_within_is_an_xdel_newer_than_the_first_entry_left(
    redis_server: RedisServer, ops: list[tuple[str, int]]
) -> None:
    """Any mix of XADDs, XDELs and trims (MINID, MAXLEN) on a real Redis: a stream is
    found to have lost entries from its middle (`StreamInfo.deleted_within`) exactly
    when an entry an XDEL took is newer than the first entry left; trims alone never;
    and the start then says it with no snapshot (`journal_deleted`)."""
    prefix = f"t-{uuid.uuid4().hex}"
    bus = RedisBus(redis_server.url, BusOptions(prefix=prefix))
    raw = aioredis.from_url(redis_server.url)
    await bus.start()
    stream = bus.layout.exec("scripted", "main")
    written: list[Any] = []
    xdeled: list[tuple[int, int]] = []
    try:
        for op, n in ops:
            if op == "add":
                for _ in range(n):
                    written.append(await raw.xadd(stream, {"f": "v"}))
            elif written and op == "xdel":
                target = written[n % len(written)]
                if await raw.xdel(stream, target):
                    xdeled.append(parse_id(target.decode()))
            elif written and op == "minid":
                await raw.xtrim(stream, minid=written[n % len(written)], approximate=False)
            elif op == "maxlen":
                await raw.xtrim(stream, maxlen=n, approximate=False)
        info = await bus.info(stream)
        entries: Any = await raw.xrange(stream)
        left = [parse_id(i.decode()) for i, _ in entries]
        expected = bool(left) and any(gone > left[0] for gone in xdeled)
        if info is None:
            assert not written
            return
        assert info.deleted_within is expected, (info, xdeled, left)
        assert bool(recovery.journal_deleted(stream, None, info, None)) is expected
    finally:
        await raw.aclose()
        await bus.close()


def test_a_server_that_does_not_count_finds_nothing() -> None:
    """Redis before 7 (no entries-added, no max-deleted-entry-id): nothing is claimed."""
    info = StreamInfo(
        length=2,
        first_id="1-0",
        last_id="3-0",
        last_generated_id="3-0",
        entries_added=0,
        counts_added=False,
        max_deleted_id="2-0",
    )
    assert not info.deleted_within
    assert recovery.journal_deleted("s", None, info, None) == ""


# -- the desk, killed, a fill XDELed, started again --------------------------------------


def market_buy(qty: str) -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument=SYMBOL,
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=D(qty),
        tif=TimeInForce.IOC,
    )


async def killed_desk(url: str, prefix: str) -> None:
    """The desk that is killed: a fill, a snapshot, another fill, then its state."""
    session = Session(desk_settings(url, prefix))
    await session.start()
    engine = session.engine
    await until(engine, lambda: engine.last_price(SYMBOL) is not None)
    await engine.submit(market_buy("0.01"))
    await until(engine, lambda: engine.position("paper", "main", SYMBOL) == D("0.01"))
    await applied_all(session)
    await session.snapshot()
    await engine.submit(market_buy("0.02"))
    await until(engine, lambda: engine.position("paper", "main", SYMBOL) == D("0.03"))
    await applied_all(session)
    [held] = [s for k, s in engine.portfolio.positions.items() if k[2] == SYMBOL]
    said = {"qty": str(held.quantity), "realized": str(held.realized_pnl)}
    sys.stdout.write(orjson.dumps(said).decode() + "\n")
    sys.stdout.flush()
    await asyncio.sleep(3600)  # until SIGKILL


async def test_a_fill_xdeled_after_a_kill_is_said_at_start_as_a_deletion(
    redis_server: RedisServer, key_prefix: str
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.test_journal_xdel_said",
        redis_server.url,
        key_prefix,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    assert child.stdout is not None
    assert child.stderr is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 90)
        if not line:
            raise AssertionError((await child.stderr.read()).decode()[-3000:])
        before = orjson.loads(line)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert before["qty"] == "0.03"

    raw = aioredis.from_url(redis_server.url)
    stream = f"{key_prefix}:exec:paper:main"
    try:
        entries: Any = await raw.xrange(stream)
        fills = [i.decode() for i, f in entries if f[b"t"] == b"fill"]
        assert len(fills) == 2
        # Another hand deletes the second fill, made after the snapshot.
        assert await raw.xdel(stream, fills[1]) == 1
    finally:
        await raw.aclose()

    session = Session(desk_settings(redis_server.url, key_prefix))
    await session.start()
    try:
        await applied_all(session)
        [message] = await deletions_said(session.bus)
        assert message.startswith(f"{stream} {SAID}")
        assert f"the newest deleted is {fills[1]}, after its first entry" in message
        assert "the snapshot covers" in message
        assert "an order event or a fill may be missing" in message.lower()
        assert "realized P&L and fees may be short" in message
        assert "The paper venue paper/main is a simulator rebuilt from this journal" in message
        assert "check the orders and fills at the venue" not in message
        # The paper venue's own line says a deletion from the middle, not its first
        # entries trimmed (it read "lost its first 1 entries").
        venue_said = [
            e.event.payload.message
            for e in await session.bus.read(session.bus.layout.health)
            if isinstance(e.event, LogEvent)
            and "the paper venue's journal lost" in e.event.payload.message
        ]
        assert len(venue_said) == 1, venue_said
        assert f"the newest deleted {fills[1]} from its middle" in venue_said[0]
        assert "its first" not in venue_said[0]
        # The reconcile that follows: the venue's checkpointed 0.03 over the desk's 0.01,
        # in words that fit a venue whose memory is this journal.
        mismatches = [
            r for r in session.reconcile_findings if r.kind is ReconcileKind.POSITION_MISMATCH
        ]
        assert [(r.ours, r.venue) for r in mismatches] == [("0.01", "0.03")]
        detail = mismatches[0].detail
        assert "the paper venue, a simulator rebuilt from this journal" in detail
        assert "check the fills at the venue" not in detail
        # The anomaly's toast says the same (engine/core.py, POSITION_MISMATCH).
        said = session.engine.anomalies.last
        assert "we held 0.01, the venue holds 0.03" in said
        assert "the paper venue is a simulator rebuilt from this journal" in said
        assert "check the fills at the venue" not in said
    finally:
        await session.close()


if __name__ == "__main__":
    asyncio.run(killed_desk(sys.argv[1], sys.argv[2]))
