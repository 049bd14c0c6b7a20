"""The desk's terminal going away (an SSH session dropping, `tmux kill-server`) closes
the session as its config says and ends the process, every time: `engine.cancel_on_exit`
cancels the working orders, the journal has it, `session.closed` is logged.

Before, Textual's output thread died on the first write to the hung-up terminal (EIO);
its bounded queue (30 writes) then filled and the next write blocked the event loop
for ever, in a frame or in Textual's own shutdown (`WriterThread.stop`). The desk froze
with the orders still working at the venue, and SIGTERM could no longer be handled
(5 of 18 `tmux kill-server` trials; `silvertine_tui/ui/terminal_gone.py`).

The real `silvertine run` in a subprocess on a pseudo-terminal, on its own Redis, with a
paper order resting (placed by an earlier session of the same broker: the desk restores
it from the journal). The hang-up is made two ways:

- `hang-up`: the pty is the desk's controlling terminal; closing its master side makes
  the kernel hang the desk up (SIGHUP) as its writes start failing: a race, which the
  desk lost in about one trial in three.
- `writes-fail`: the pty is not its controlling terminal, so closing it only makes its
  writes fail (EIO): the failed writes alone must end the desk. SIGHUP comes two
  seconds later unless the desk is shutting down by then: the race's losing order,
  made certain (the desk had drawn on, the queue was full, and it froze every time).

And `SIGTERM` with the terminal there: the same close, and the terminal given back."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.pty_child import drain, terminal_env
from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.events import OrderUpdateEvent
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

SYMBOL = "BTCUSDT.PAPER"
TICK_MS = 20  # the paper market (three symbols) moves at every frame: the desk draws on
BROKER = f"{{name: paper, type: paper, market: {{tick_interval_ms: {TICK_MS}}}}}"
EXIT_WITHIN_S = 15.0
ALT_SCREEN_OFF = b"\x1b[?1049l"  # Textual gives the terminal back


def records(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [orjson.loads(line) for line in log.read_text().splitlines() if line]


def events(log: Path) -> list[str]:
    return [r["event"] for r in records(log)]


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def settings(redis: RedisServer, prefix: str) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": redis.url, "prefix": prefix},
            "brokers": [
                {"name": "paper", "type": "paper", "market": {"tick_interval_ms": TICK_MS}}
            ],
            "engine": {"cancel_on_exit": False},
        }
    )


async def rest_an_order(redis: RedisServer, prefix: str) -> str:
    """A GTC buy 4% below the market (inside the price collar; the walk does not
    reach it), left working by a session that closes without cancelling it (its
    journal and snapshot say so); its client order id."""
    session = Session(settings(redis, prefix))
    await session.start()
    try:
        engine = session.engine
        async with asyncio.timeout(20):
            while engine.last_price(SYMBOL) is None:
                await engine.wait_changed(0.2)
        last = engine.last_price(SYMBOL)
        assert last is not None
        coid = await engine.submit(
            OrderRequest(
                broker="paper",
                account="main",
                instrument=SYMBOL,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=Decimal("0.01"),
                limit_price=(last * Decimal("0.96")).quantize(Decimal("0.01")),
                tif=TimeInForce.GTC,
            )
        )
        async with asyncio.timeout(20):
            while [v.client_order_id for v in engine.oms.working()] != [coid] or (
                engine.oms.pending_new()
            ):
                await engine.wait_changed(0.2)
    finally:
        await session.close()
    assert session.left_working == ""  # (cancel_on_exit off: not asked to cancel)
    return coid


async def journaled_statuses(redis: RedisServer, prefix: str, coid: str) -> list[OrderStatus]:
    bus = RedisBus(redis.url, BusOptions(prefix=prefix))
    await bus.start()
    try:
        entries = await bus.read(bus.layout.exec("paper", "main"))
    finally:
        await bus.close()
    return [
        e.event.payload.status
        for e in entries
        if isinstance(e.event, OrderUpdateEvent) and e.event.payload.client_order_id == coid
    ]


def controlling_terminal() -> None:
    """In the child: the pty (its stdin) becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.parametrize("how", ["hang-up", "writes-fail", "SIGTERM"])
def test_the_terminal_gone_closes_the_session_and_ends_the_desk(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, how: str
) -> None:
    coid = asyncio.run(rest_an_order(redis_server, key_prefix))
    log = tmp_path / "desk.log"
    config = tmp_path / "desk.yaml"
    config.write_text(
        f"bus: {{url: {redis_server.url!r}, prefix: {key_prefix}}}\n"
        f"log: {{file: {str(log)!r}}}\n"
        "engine: {cancel_on_exit: true}\n"
        f"brokers: [{BROKER}]\n"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "silvertine_tui", "run", "-c", str(config)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=terminal_env(tmp_path),
        start_new_session=True,
        preexec_fn=controlling_terminal if how in ("hang-up", "SIGTERM") else None,
    )
    os.close(slave)
    received = bytearray()
    reader = threading.Thread(target=drain, args=(master, received.extend), daemon=True)
    reader.start()
    master_open = True
    code: int | None = None
    quit_on_its_own = False
    try:
        assert wait_for(lambda: "session.started" in events(log)), events(log)[-8:]
        restored = [r.get("detail", "") for r in records(log) if r["event"] == "broker.state"]
        assert any("1 working orders restored" in d for d in restored), restored
        time.sleep(0.5)  # the desk drawn, quotes moving: it draws on
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        else:
            os.close(master)  # the terminal goes away
            master_open = False
            if how == "writes-fail":
                # (Not sent once it is shutting down: a SIGHUP after its close, the
                # stop signals' handlers gone, would end it before its exit code.)
                quit_on_its_own = wait_for(lambda: "app.quit_now" in events(log), 2.0)
                if not quit_on_its_own:
                    proc.send_signal(signal.SIGHUP)
        code = proc.wait(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if master_open:
            reader.join(timeout=5)
            os.close(master)
    names = events(log)
    assert code is not None, f"the desk did not exit within {EXIT_WITHIN_S} s: {names[-6:]}"
    assert code == 0, (code, names[-6:], bytes(received)[-1500:])
    assert "session.cancel_on_exit" in names, names[-8:]
    assert "session.closed" in names, names[-8:]
    statuses = asyncio.run(journaled_statuses(redis_server, key_prefix, coid))
    assert statuses[-1] is OrderStatus.CANCELED, statuses
    assert "thread.uncaught_exception" not in names  # the writer no longer dies
    if how == "SIGTERM":
        assert ALT_SCREEN_OFF in received, "the terminal was left in the UI's mode"
        assert b"stopped on SIGTERM" in received
        assert "ui.terminal_gone" not in names
    else:
        [gone] = [r for r in records(log) if r["event"] == "ui.terminal_gone"]
        assert gone["error"] == "EIO"
    if how == "writes-fail":
        assert quit_on_its_own, "the failed writes alone did not end the desk"


ALT_SCREEN_ON = b"\x1b[?1049h"


def test_a_sigcont_with_nothing_suspended_starts_nothing(tmp_path: Path) -> None:
    """The kernel sends SIGCONT with a hang-up's SIGHUP. Textual resumed on it as after
    ctrl+z: a second writer and a second input thread beside the running ones, of
    which only the second was stopped at exit (the first, not a daemon thread, could
    keep the process from ever ending). The threads of the review's frozen desk showed
    it: a live writer waiting for work beside the full queue of the dead one."""
    log = tmp_path / "desk.log"
    config = tmp_path / "desk.yaml"
    # A still market: hardly anything drawn. Textual's SIGTSTP handler stops the
    # output thread from the main thread, and a SIGTSTP that lands while the main
    # thread is inside a frame's `queue.put` deadlocks on the queue's lock (Textual's;
    # its own suspend, `App.action_suspend_process`, signals from outside any put).
    broker = "{name: paper, type: paper, market: {autorun: false}}"
    config.write_text(f"log: {{file: {str(log)!r}}}\nbrokers: [{broker}]\n")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "silvertine_tui", "run", "-c", str(config)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=terminal_env(tmp_path),
        start_new_session=True,
        preexec_fn=controlling_terminal,
    )
    os.close(slave)
    received = bytearray()
    reader = threading.Thread(target=drain, args=(master, received.extend), daemon=True)
    reader.start()

    def threads() -> int:
        return len(os.listdir(f"/proc/{proc.pid}/task"))

    def state() -> str:
        return Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

    try:
        assert wait_for(lambda: "session.started" in events(log)), events(log)[-8:]
        time.sleep(0.5)
        running = threads()
        assert received.count(ALT_SCREEN_ON) == 1
        proc.send_signal(signal.SIGCONT)  # nothing suspended
        time.sleep(0.5)
        assert threads() == running
        assert received.count(ALT_SCREEN_ON) == 1  # the UI's mode was not set up again
        # What was suspended is resumed, as before.
        proc.send_signal(signal.SIGTSTP)
        assert wait_for(lambda: state() == "T", 10)
        proc.send_signal(signal.SIGCONT)
        assert wait_for(lambda: received.count(ALT_SCREEN_ON) == 2, 10)
        time.sleep(0.3)
        assert threads() == running
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=EXIT_WITHIN_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        os.close(master)
    assert code == 0, bytes(received)[-1500:]
    assert "session.closed" in events(log)
