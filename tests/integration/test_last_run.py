"""Redis loses its data while no desk runs: the next start on this host says so and
never comes up less restricted than the desk was left (`engine/last_run.py`)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, EventBus
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import RiskConfig, Settings
from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.last_run import LastRun, RunRecorder, load, record_path, save
from silvertine_tui.events import HealthEvent, RiskEvent
from tests.support.redis_server import RedisServer
from tests.support.session_child import settings

pytestmark = pytest.mark.redis

ORDER = {TradingState.ACTIVE: 0, TradingState.REDUCE_ONLY: 1, TradingState.HALTED: 2}


def waiting_briefly(url: str, prefix: str) -> Settings:
    """`settings` with the shortest claim ttl (1 s, against 15 s): the first start after
    the loss takes its claims pending for one ttl (Redis no longer holds the epoch this
    host's record names), which this test does not look at (the claims' tests do)."""
    base = settings(url, prefix)
    return base.model_copy(update={"engine": base.engine.model_copy(update={"claim_ttl_s": 1.0})})


async def risk_messages(bus: EventBus) -> list[str]:
    return [
        e.event.payload.message
        for e in await bus.read(bus.layout.risk)
        if isinstance(e.event, RiskEvent)
    ]


async def leave(server: RedisServer, prefix: str, state: TradingState) -> None:
    """A desk that sets `state` and quits."""
    session = Session(settings(server.url, prefix))
    await session.start()
    try:
        if state is TradingState.HALTED:
            await session.engine.kill("drill")
        elif state is TradingState.REDUCE_ONLY:
            await session.engine.set_trading_state(state)
    finally:
        await session.close()


@pytest.mark.parametrize("state", list(TradingState))
async def test_a_journal_lost_while_no_desk_ran_is_said_and_the_state_kept(
    state: TradingState, key_prefix: str
) -> None:
    with RedisServer() as server:
        await leave(server, key_prefix, state)
        await server.akill()
        await server.arestart()  # no persistence: the journal and the epoch are gone

        session = Session(waiting_briefly(server.url, key_prefix))
        await session.start()
        try:
            assert session.engine.gate.state is state
            [alert] = [a for a in session.alerts if a.title == "Journal lost while no desk ran"]
            assert "lost the journal this host's desk last wrote" in alert.message
            carried = [m for m in await risk_messages(session.bus) if "last desk run" in m]
            if state is TradingState.ACTIVE:
                assert carried == []
                assert "trading stays" not in alert.message
            else:
                assert len(carried) == 1
                assert state in carried[0]
                assert f"trading stays {state} as it was left" in alert.message
            health = [
                e.event.payload
                for e in await session.bus.read(session.bus.layout.health)
                if isinstance(e.event, HealthEvent) and e.event.payload.component == "bus"
            ]
            said = [h for h in health if "last desk run lost" in h.message]
            assert [h.state for h in said] == [ConnectionState.DEGRADED]
            # The start done, the bus reads LIVE again, saying what was found: it read
            # DEGRADED for the whole session (a trader's drill).
            assert health[-1].state is ConnectionState.LIVE
            assert "was found lost at start: said in the Log" in health[-1].message
        finally:
            await session.close()

        # The record follows the new journal: the next start has nothing to say.
        again = Session(settings(server.url, key_prefix))
        await again.start()
        try:
            assert again.engine.gate.state is state
            assert not [a for a in again.alerts if a.title == "Journal lost while no desk ran"]
        finally:
            await again.close()


async def test_with_the_journal_kept_it_is_the_truth_not_the_record(
    key_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left HALTED here, resumed by a desk on another host: the next start here follows
    the journal (ACTIVE), not this host's record."""
    with RedisServer() as server:
        await leave(server, key_prefix, TradingState.HALTED)
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "other-host"))
        other = Session(settings(server.url, key_prefix))
        await other.start()
        try:
            assert other.engine.gate.state is TradingState.HALTED
            await other.engine.resume()
        finally:
            await other.close()
        monkeypatch.undo()
        session = Session(settings(server.url, key_prefix))
        await session.start()
        try:
            assert session.engine.gate.state is TradingState.ACTIVE
            assert not session.alerts
        finally:
            await session.close()


async def test_the_record_follows_the_desk_and_holds_no_secret(
    key_prefix: str, state_home: Path
) -> None:
    with RedisServer(password="s3cret-pw") as server:
        session = Session(settings(server.url, key_prefix))
        await session.start()
        path = session.last_run.path
        try:
            assert path.parent == state_home / "silvertine" / "desks"
            record = load(path)
            assert record is not None
            assert record.trading_state is TradingState.ACTIVE
            assert record.epoch == session.bus.epoch
            await session.engine.kill("drill")
            await session.last_run.record()  # what `keep` does every second
            record = load(path)
            assert record is not None
            assert record.trading_state is TradingState.HALTED
        finally:
            await session.close()
        text = path.read_text()
        assert "s3cret-pw" not in text
        assert json.loads(text)["bus"] == f"redis://:***@{server.host}:{server.port}/0"


async def test_a_memory_desk_keeps_no_record(state_home: Path) -> None:
    session = Session(settings("memory://", "st"))
    await session.start()
    try:
        await session.engine.kill("drill")
        await session.last_run.record()
    finally:
        await session.close()
    assert not (state_home / "silvertine" / "desks").exists()


# Every recorded state against every state the journal gave, with the epoch the same
# (the journal is the truth) or another (lost: the stricter of the two).
CASES = list(itertools.product(TradingState, TradingState, [True, False]))


@pytest.mark.parametrize(("recorded", "journal", "same_epoch"), CASES)
async def test_check_never_loosens_and_trusts_a_kept_journal(
    recorded: TradingState,
    journal: TradingState,
    same_epoch: bool,
    key_prefix: str,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    bus = RedisBus(redis_server.url, BusOptions(prefix=key_prefix))
    await bus.start()
    try:
        engine = TradingEngine(bus, [], RiskConfig())
        engine.gate.state = journal  # as the risk stream replayed it
        epoch = bus.epoch
        assert epoch is not None
        path = record_path(tmp_path, bus.stats.url, key_prefix)
        save(
            path,
            LastRun(
                bus=bus.stats.url,
                prefix=key_prefix,
                epoch=epoch if same_epoch else "an-epoch-redis-lost",
                trading_state=recorded,
                at_ms=1_764_000_000_000,
            ),
        )
        recorder = RunRecorder(engine, path)
        said = await recorder.check()
        lost = not same_epoch
        expected = max(recorded, journal, key=ORDER.__getitem__) if lost else journal
        assert engine.gate.state is expected
        assert (said is not None) == lost
        carried = [m for m in await risk_messages(bus) if "last desk run" in m]
        assert len(carried) == (1 if lost and ORDER[recorded] > ORDER[journal] else 0)
        await recorder.record()
        after = load(path)
        assert after is not None
        assert (after.epoch, after.trading_state) == (epoch, expected)
    finally:
        await bus.close()
