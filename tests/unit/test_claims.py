"""Who holds a broker's claim, and whether that desk is gone (engine/claims.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.engine.claims import (
    BrokerClaimedError,
    BrokerClaims,
    ClaimConflict,
    DeskId,
    _process_stat,
    _started,
)

HERE = DeskId.this_process()


def desk(pid: int, **fields: object) -> DeskId:
    """A desk of process `pid` where this one runs (its start time read now)."""
    return HERE.model_copy(update={"desk": "other", "pid": pid, "started": _started(pid), **fields})


def test_a_desk_of_this_host_whose_process_exited_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert desk(child.pid).gone(HERE)


def test_a_killed_process_not_yet_reaped_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    holder = desk(child.pid)
    child.kill()
    deadline = time.monotonic() + 10
    while (_process_stat(child.pid) or ("", 0))[0] != "Z":  # dead, nobody waited for it
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert holder.gone(HERE)
    child.wait()


def test_a_pid_now_held_by_another_process_is_gone() -> None:
    """The pid was reused: the process there started at another time."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        holder = desk(child.pid)
        assert not holder.gone(HERE)
        reused = holder.model_copy(update={"started": holder.started - 1})
        assert reused.gone(HERE)
    finally:
        child.kill()
        child.wait()


def test_a_running_process_another_host_or_this_process_is_not_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not desk(child.pid).gone(HERE)
    finally:
        child.kill()
        child.wait()
    # Exited, but on another host, in another boot or in another pid namespace (a
    # container sharing the host's network and name): a pid there says nothing here.
    assert desk(child.pid).gone(HERE)
    assert not desk(child.pid, host="trading-host-2").gone(HERE)
    assert not desk(child.pid, boot="another-boot").gone(HERE)
    assert not desk(child.pid, pid_ns=HERE.pid_ns + 1).gone(HERE)
    assert not desk(child.pid, pid_ns=0).gone(HERE.model_copy(update={"pid_ns": 0}))
    assert not desk(HERE.pid).gone(HERE)
    assert not desk(1).gone(HERE)  # init runs, whoever owns it


def test_a_claim_value_no_desk_wrote_is_named_as_such() -> None:
    assert DeskId.parse("not json") is None
    assert DeskId.parse('{"desk": "x"}') is None
    conflict = ClaimConflict("paper", None, -1)
    assert "(a holder it does not name)" in conflict.message()
    assert "lapses in never (no ttl)" in conflict.message()
    held = ClaimConflict(
        "paper",
        desk(4242, host="h2").model_copy(update={"since": datetime(2026, 1, 2, tzinfo=UTC)}),
        9_400,
    )
    assert held.message() == (
        "broker paper is driven by another desk on this bus (host h2, pid 4242, since "
        "2026-01-02 00:00:00 UTC): one desk drives a broker at a time. Quit that desk "
        "first, or give this one another bus prefix (--prefix). If that desk is gone, its "
        "claim lapses in 9 s."
    )


async def test_claims_on_one_bus_let_one_desk_drive_each_broker() -> None:
    bus = MemoryBus(BusOptions(prefix="claims"))
    await bus.start()
    first = BrokerClaims(bus, ["paper", "binance"], 15)
    await first.take()
    assert first.held == {"paper", "binance"}
    second = BrokerClaims(bus, ["binance", "ib"], 15)
    with pytest.raises(BrokerClaimedError) as refused:
        await second.take()
    assert [c.broker for c in refused.value.conflicts] == ["binance"]
    assert refused.value.conflicts[0].holder == first.desk
    assert second.held == set()  # `ib`, claimed on the way, was let go
    # A renewal that finds another holder reports it once.
    await bus.claim(
        bus.layout.claim("paper"), desk(1).model_dump_json(), 60_000, replacing=first.value
    )
    lost = await first.renew()
    assert [c.broker for c in lost] == ["paper"]
    assert await first.renew() == []
    assert first.held == {"binance"}
    await first.release()
    assert first.held == set()
    await second.take()
    assert second.held == {"binance", "ib"}


async def test_the_killing_desk_holds_halted_until_its_latest_kill_is_read_back() -> None:
    """KILL, RESUME, KILL on one desk, read back in that order: between the resume and
    the second kill read back, HALTED holds (the first kill read back does not end it)."""
    from silvertine_tui.config import RiskConfig
    from silvertine_tui.domain import TradingState
    from silvertine_tui.engine.core import TradingEngine

    bus = MemoryBus(BusOptions(prefix="kills"))
    await bus.start()
    engine = TradingEngine(bus, [], RiskConfig())
    await engine.kill("first")
    await engine.resume()
    await engine.kill("second")
    assert engine.gate.state is TradingState.HALTED
    states = []
    for entry in await bus.read(bus.layout.risk):
        engine.apply_entry(entry)
        states.append(engine.gate.state)
    assert states == [TradingState.HALTED] * 3
    assert engine.kill_from_elsewhere == ""  # all three are its own
    await bus.close()


def test_brokers_held_by_one_desk_are_refused_in_one_sentence() -> None:
    since = {"since": datetime(2026, 1, 2, tzinfo=UTC)}
    one = desk(4242, host="h2").model_copy(update=since)
    two = desk(7, host="h3").model_copy(update=since)
    error = BrokerClaimedError(
        [
            ClaimConflict("binance", one, 9_400),
            ClaimConflict("ib", two, 3_000),
            ClaimConflict("paper", one, 8_100),
        ],
        url="redis://127.0.0.1:6379/0",
        prefix="silvertine",
    )
    assert error.lines() == [
        "brokers binance and paper are driven by another desk on this bus (host h2, pid "
        "4242, since 2026-01-02 00:00:00 UTC): one desk drives a broker at a time. Quit "
        "that desk first, or give this one another bus prefix (--prefix). If that desk is "
        "gone, its claims lapse in 8 s.",
        "broker ib is driven by another desk on this bus (host h3, pid 7, since 2026-01-02 "
        "00:00:00 UTC): one desk drives a broker at a time. Quit that desk first, or give "
        "this one another bus prefix (--prefix). If that desk is gone, its claim lapses in "
        "3 s.",
    ]
    assert str(error) == "; ".join(error.lines())
    assert error.watch_command() == (
        "silvertine watch --bus redis://127.0.0.1:6379/0 --prefix silvertine"
    )
