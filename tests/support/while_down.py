"""Shared by the tests of a state set while a desk was down (a kill switch, REDUCE
ONLY: `Session._state_while_down`): the desk or watching desk that sets it, and what
the desk that was down said of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.engine import Session
from silvertine_tui.engine.last_run import LastRun, read
from silvertine_tui.engine.watch import WatchSession
from tests.support.desks import log_messages

DOWN = "while this desk was down"
"""In the Log line a desk's start says of a state it honoured."""


def watcher(url: str, prefix: str) -> WatchSession:
    """A watching desk on `url` and `prefix` (passive: it writes no epoch, no claim)."""
    settings = Settings.model_validate({"bus": {"url": url, "prefix": prefix}})
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1, passive=True))
    return WatchSession(settings, bus=bus)


def on_another_host(
    monkeypatch: pytest.MonkeyPatch, state_dir: Path, build: Callable[[], Session]
) -> Session:
    """A desk built with its own state dir: its last-run record is not this host's (a
    desk on another host), so what it reads is not what this host's desk read."""
    with monkeypatch.context() as patched:
        patched.setenv("XDG_STATE_HOME", str(state_dir))
        return build()


def titled_alerts(session: Session, title: str) -> list[tuple[str, str]]:
    """The session's alerts titled `title`: (message, severity)."""
    return [(a.message, a.severity) for a in session.alerts if a.title == title]


async def down_lines(session: Session) -> list[str]:
    """The log lines of the bus that say what a start honoured (`DOWN`)."""
    return [m for m in await log_messages(session) if DOWN in m]


def read_record(path: Path) -> LastRun:
    record = read(path)
    assert record is not None
    return record
