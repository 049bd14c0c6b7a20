"""This host's record of its last desk run (`engine/last_run.py`) cannot be read or
cannot be written: the desk starts all the same, and the trader is told, in the Log
pane and a toast, that the guard against a journal Redis lost while no desk ran is off,
and what to do. Real desks on a redis-server this test starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from silvertine_tui.config import Settings
from silvertine_tui.domain import TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.last_run import load
from silvertine_tui.events import LogEvent, LogLevel
from tests.support.redis_server import RedisServer
from tests.support.session_child import settings

pytestmark = pytest.mark.redis

UNREADABLE = "Last-run record unreadable"
NOT_SAVED = "Last-run record not saved"


def briefly(url: str, prefix: str) -> Settings:
    """`settings` with the shortest claim ttl (1 s): a start that cannot tell whether
    Redis lost claims takes them pending for one ttl."""
    base = settings(url, prefix)
    return base.model_copy(update={"engine": base.engine.model_copy(update={"claim_ttl_s": 1.0})})


async def log_lines(session: Session) -> list[tuple[LogLevel, str]]:
    """The Log pane's lines, as journaled on the bus."""
    entries = await session.bus.read(session.bus.layout.health)
    return [
        (e.event.payload.level, e.event.payload.message)
        for e in entries
        if isinstance(e.event, LogEvent)
    ]


def set_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.*.unreadable"))


VALID = {
    "bus": "redis://127.0.0.1:1/0",
    "prefix": "p",
    "epoch": "an-epoch-redis-lost",
    "trading_state": "HALTED",
    "at_ms": 1_764_000_000_000,
}

# What is on disk, and the reason the trader is given for it.
DAMAGED: dict[str, tuple[bytes, str]] = {
    "not_json": (b'{"bus": "redis://:hunter2@h:6379/0", "epoch": ', "not JSON"),
    # A write cut short by a crash or a power loss; before, this stopped the start.
    "not_utf8": (b"\xff\xfe\x00\x00garbage", "not UTF-8 text"),
    "not_a_record": (b'{"bus": "redis://:hunter2@h:6379/0", "epoch": 5}', "not a last-run record"),
    # A newer Silvertine's record this one cannot take (one it can is taken as it is).
    "newer": (
        json.dumps({**VALID, "version": 2, "trading_state": "CLOSE_ONLY"}).encode(),
        "written by a newer Silvertine (record version 2",
    ),
}


@pytest.mark.parametrize("damage", [*DAMAGED, "a_directory"])
async def test_a_damaged_record_is_said_kept_aside_and_the_desk_starts(
    damage: str, key_prefix: str, redis_server: RedisServer
) -> None:
    session = Session(briefly(redis_server.url, key_prefix))
    path = session.last_run.path
    path.parent.mkdir(parents=True)
    if damage == "a_directory":  # the disk refuses the read: an OSError
        path.mkdir()
        content, reason = b"", "Is a directory"
    else:
        content, reason = DAMAGED[damage]
        path.write_bytes(content)
    await session.start()
    try:
        assert session.ready
        assert session.engine.gate.state is TradingState.ACTIVE
        [alert] = [a for a in session.alerts if a.title == UNREADABLE]
        assert alert.severity == "warning"
        assert alert.journaled
        said = alert.message
        assert str(path) in said
        assert reason in said
        assert "hunter2" not in said  # the reason, never the file's content
        assert "guard against a journal Redis lost while no desk ran is off for this start" in (
            said
        )
        assert "Check the trading state" in said
        assert "written again at this run" in said
        [aside] = set_aside(path)
        assert aside.name in said
        if damage == "a_directory":
            assert aside.is_dir()
        else:
            assert aside.read_bytes() == content  # kept, not written over
        lines = await log_lines(session)
        assert (LogLevel.WARNING, said.removesuffix(".")) in lines  # the toast ends a sentence
        # Nor can it tell whether Redis lost the claims: taken pending for a ttl.
        pending = [m for _, m in lines if "claims broker(s) paper pending for" in m]
        assert len(pending) == 1
        assert "record of its last desk run on this bus could not be read" in pending[0]
    finally:
        await session.close()
    record = load(path)  # this run's, written where the damaged one was
    assert record is not None
    assert record.epoch == session.bus.epoch

    again = Session(briefly(redis_server.url, key_prefix))
    await again.start()
    try:
        assert not [a for a in again.alerts if a.title == UNREADABLE]
        assert len(set_aside(path)) == 1
    finally:
        await again.close()


async def test_a_halt_behind_a_damaged_record_and_a_lost_journal_is_said_not_guessed(
    key_prefix: str,
) -> None:
    """Left HALTED; the record damaged; Redis restarts empty. Nothing says the desk was
    halted: it comes up as the empty journal says, and the trader is told the guard was
    off, with the state to check."""
    with RedisServer() as server:
        first = Session(settings(server.url, key_prefix))
        await first.start()
        try:
            await first.engine.kill("drill")
        finally:
            await first.close()
        path = first.last_run.path
        path.write_text("{damaged")
        await server.akill()
        await server.arestart()  # no persistence: the journal and the epoch are gone

        session = Session(briefly(server.url, key_prefix))
        await session.start()
        try:
            assert session.engine.gate.state is TradingState.ACTIVE
            [alert] = [a for a in session.alerts if a.title == UNREADABLE]
            assert "is off for this start" in alert.message
            assert f"trading is {TradingState.ACTIVE} as the journal gave it" in alert.message
            assert not [a for a in session.alerts if a.title == "Journal lost while no desk ran"]
        finally:
            await session.close()


async def test_a_record_that_cannot_be_saved_is_said_once_and_its_return_too(
    key_prefix: str, redis_server: RedisServer, state_home: Path
) -> None:
    """The state dir refuses the record (here a file where its `desks` dir goes: a
    read-only dir or a full disk refuse it as well): said once, with what to do, however
    often it is tried again; said again in the Log pane once it is saved."""
    desks = state_home / "silvertine" / "desks"
    desks.parent.mkdir(parents=True)
    desks.write_text("in the way")
    session = Session(settings(redis_server.url, key_prefix))
    await session.start()
    try:
        assert session.ready
        for _ in range(3):  # what `keep` does every second, and close
            await session.last_run.record(always=True)
        [alert] = [a for a in session.alerts if a.title == NOT_SAVED]
        assert alert.severity == "warning"
        assert alert.journaled
        said = alert.message
        assert str(session.last_run.path) in said
        assert "File exists" in said or "Not a directory" in said
        assert f"make {desks} a writable directory with free space" in said
        lines = await log_lines(session)
        assert [m for _, m in lines if m == said.removesuffix(".")] == [said.removesuffix(".")]
        assert not list(desks.parent.glob("**/*.tmp"))

        desks.unlink()  # the trader frees the way
        await session.last_run.record()
        record = load(session.last_run.path)
        assert record is not None
        assert record.epoch == session.bus.epoch
        lines = await log_lines(session)
        back = [m for _, m in lines if "saved again" in m]
        assert len(back) == 1
        assert str(session.last_run.path) in back[0]
        assert len([a for a in session.alerts if a.title == NOT_SAVED]) == 1
    finally:
        await session.close()
