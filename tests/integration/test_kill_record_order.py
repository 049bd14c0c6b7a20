"""A desk's start that honours a kill switch pulled (or REDUCE ONLY set) while it was
down writes its last-run record before its cancels go out (the record guards every
start), and its brokers are heard from on the health stream from then on. Before, that
record already said the state was read: a desk killed (or quit) before its cancels
went out left a record that had read it, and heartbeats after it, so its next start
took it as acted on and the orders stayed working at the venue with no word.

Now the record says the run read the risk stream only up to right before that state
until its cancels went out (`RunRecorder.acting` / `acted`), and the next start
honours it again (`Session._state_while_down`). The paper venue's cancels are made
slow (`latency.cancel_ms`) to hold the desk between the two. On a real Redis, a bus
per desk; the desk that sets the state is on another host (its own last-run record).

    python -m tests.integration.test_kill_record_order REDIS_URL PREFIX

runs the desk whose cancels never come (`child`), killed with SIGKILL by the test."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from silvertine_tui.bus import parse_id
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.last_run import read
from tests.support.desks import logged_line, rest_and_leave, status, until, venue_working
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

DOWN = "while this desk was down"


def settings(url: str, prefix: str, broker: str, *, cancel_ms: float = 20.0) -> Settings:
    """A paper desk whose venue confirms a cancel `cancel_ms` after it is sent; a short
    claim ttl, so that the claim of a desk killed lapses soon."""
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": broker,
                    "type": "paper",
                    "symbols": ["BTCUSDT"],
                    "market": {"autorun": False},
                    "latency": {"cancel_ms": cancel_ms, "jitter_ms": 0},
                }
            ],
            "engine": {"claim_ttl_s": 2.0},
        }
    )


def desk(url: str, prefix: str, broker: str, *, cancel_ms: float = 20.0) -> Session:
    return Session(settings(url, prefix, broker, cancel_ms=cancel_ms))


def on_another_host(
    monkeypatch: pytest.MonkeyPatch, state_dir: Path, build: Callable[[], Session]
) -> Session:
    """A desk built with its own state dir: its last-run record is not this host's."""
    with monkeypatch.context() as patched:
        patched.setenv("XDG_STATE_HOME", str(state_dir))
        return build()


def recorded_entry(session: Session) -> str:
    """The `state_entry` of this host's record on disk, as a desk killed now leaves it."""
    record = read(session.last_run.path)
    assert record is not None
    assert record.state_entry is not None
    return record.state_entry


async def set_stricter(other: Session, state: TradingState) -> str:
    """`other` pulls the kill switch (HALTED) or sets REDUCE ONLY: its risk entry."""
    if state is TradingState.HALTED:
        assert (await other.engine.kill("drill while the desk is down")).ok
    else:
        assert (await other.engine.set_trading_state(state)).ok
    [entry] = await other.bus.read_last(other.bus.layout.risk, 1)
    return entry.id


STATES = [
    pytest.param(TradingState.HALTED, id="kill"),
    pytest.param(TradingState.REDUCE_ONLY, id="reduce-only"),
]


@pytest.mark.parametrize("state", STATES)
async def test_the_record_says_the_state_was_read_only_once_its_cancels_went_out(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    state: TradingState,
) -> None:
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")  # a buy: it adds
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    starting = desk(url, key_prefix, "paper", cancel_ms=5000)
    try:
        entry = await set_stricter(other, state)
        await starting.start()
        await until(lambda: status(starting, cid) is OrderStatus.PENDING_CANCEL)
        await asyncio.sleep(1.2)  # the record kept meanwhile (once a second)
        assert status(starting, cid) is OrderStatus.PENDING_CANCEL  # its cancel still out
        # A desk killed now leaves a record that has not read the state: not acted on.
        assert parse_id(recorded_entry(starting)) < parse_id(entry)

        await until(lambda: status(starting, cid) is OrderStatus.CANCELED)
        await logged_line(starting, DOWN)
        await until(lambda: parse_id(recorded_entry(starting)) >= parse_id(entry))
    finally:
        await starting.close()
        await other.close()


@pytest.mark.parametrize("state", STATES)
async def test_a_desk_quit_before_its_cancels_went_out_leaves_them_to_its_next_start(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    state: TradingState,
) -> None:
    """The trader quits while the start's cancels are still out (the record written at
    close, after its heartbeats): the next start makes them, and says so."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    quitting = desk(url, key_prefix, "paper", cancel_ms=30_000)
    again: Session | None = None
    try:
        await set_stricter(other, state)
        await quitting.start()
        await until(lambda: status(quitting, cid) is OrderStatus.PENDING_CANCEL)
        await asyncio.sleep(1.2)  # heartbeats and the record kept, as a running desk's
        await quitting.close()

        again = desk(url, key_prefix, "paper")
        await again.start()
        session = again
        assert session.engine.gate.state is state
        await until(lambda: status(session, cid) is OrderStatus.CANCELED)
        assert await venue_working(session) == []
        said = await logged_line(session, DOWN)
        assert said.startswith(f"desk {session.claims.desk.host} pid {session.claims.desk.pid}, ")
        assert "cancelled 1 order(s)" in said, said
    finally:
        await quitting.close()
        if again is not None:
            await again.close()
        await other.close()


async def test_a_desk_killed_before_its_cancels_went_out_leaves_them_to_its_next_start(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The review's steps: a desk quits with an order working; a desk on another host
    pulls the kill switch; the desk starts, finds it, and is killed (SIGKILL) while its
    cancel is out (its record written, its brokers heard from after the KILL); it is
    started again."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    child: asyncio.subprocess.Process | None = None
    restarted: Session | None = None
    try:
        await set_stricter(other, TradingState.HALTED)
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.test_kill_record_order",
            url,
            key_prefix,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ),  # this test's state dir: this host's record
        )
        assert child.stdout is not None
        assert child.stderr is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        if not line:
            raise AssertionError((await child.stderr.read()).decode()[-3000:])
        assert orjson.loads(line) == {"cancelling": [cid]}
        child.send_signal(signal.SIGKILL)
        await child.wait()

        restarted = desk(url, key_prefix, "paper")
        await restarted.start()
        session = restarted
        assert session.engine.gate.state is TradingState.HALTED
        await until(lambda: status(session, cid) is OrderStatus.CANCELED)
        assert await venue_working(session) == []
        said = await logged_line(session, DOWN)
        name = f"desk {session.claims.desk.host} pid {session.claims.desk.pid}"
        assert said.startswith(f"{name}, after a kill switch pulled from "), said
        assert said.endswith("Trading HALTED; cancelled 1 order(s)"), said
    finally:
        if child is not None and child.returncode is None:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        if restarted is not None:
            await restarted.close()
        await other.close()


async def child(url: str, prefix: str) -> None:
    """The desk the test kills: it starts, honours the KILL it finds standing, and its
    paper venue never confirms the cancels (a minute); once they are out and its record
    and heartbeats kept a second, it prints the orders being cancelled and waits."""
    session = desk(url, prefix, "paper", cancel_ms=60_000)
    await session.start()
    engine = session.engine
    async with asyncio.timeout(30):
        while not (
            engine.oms.working()
            and all(v.order.status is OrderStatus.PENDING_CANCEL for v in engine.oms.working())
        ):
            await engine.wait_changed(0.2)
    await asyncio.sleep(1.2)
    cancelling = sorted(v.client_order_id for v in engine.oms.working())
    sys.stdout.write(orjson.dumps({"cancelling": cancelling}).decode() + "\n")
    sys.stdout.flush()
    await asyncio.sleep(3600)  # until SIGKILL


async def test_a_start_whose_cancels_left_an_order_working_leaves_them_to_its_next_start(
    redis_server: RedisServer,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The venue's link drops as the start's cancels go (the report: an order still
    working, an error toast): the record does not say the KILL was read, and the next
    start cancels. Before, it said read whatever the cancels did, and the next start,
    its brokers heard from after the KILL, cancelled nothing (a code review)."""
    url = redis_server.url
    cid = await rest_and_leave(desk(url, key_prefix, "paper"), "paper")
    other = on_another_host(monkeypatch, tmp_path / "other", lambda: desk(url, key_prefix, "p2"))
    await other.start()
    failing = desk(url, key_prefix, "paper")
    again: Session | None = None
    try:
        entry = await set_stricter(other, TradingState.HALTED)
        await failing.start()
        # (Before the honour's task runs: its cancel meets the link down.)
        await failing.engine.brokers["paper"].drop_link()  # type: ignore[attr-defined]
        said = await logged_line(failing, DOWN)
        assert "still working" in said, said
        await asyncio.sleep(1.2)  # the record kept meanwhile (once a second)
        assert parse_id(recorded_entry(failing)) < parse_id(entry)
        await failing.close()

        again = desk(url, key_prefix, "paper")
        await again.start()
        session = again
        await until(lambda: status(session, cid) is OrderStatus.CANCELED)
        assert await venue_working(session) == []
    finally:
        await failing.close()
        if again is not None:
            await again.close()
        await other.close()


if __name__ == "__main__":
    asyncio.run(child(sys.argv[1], sys.argv[2]))
