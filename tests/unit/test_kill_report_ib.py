"""The kill switch's report says what TWS's answers say it did, and a kill whose outcome
was unknown says so once it is known (IB review items 10 and 7).

- An order whose place had no answer (its first report lost) was cancelled by the
  kill's global cancel, yet the report read "cancelled 0 order(s); 1 no longer working
  at the venue (filled or cancelled)".
- A kill pulled while TWS was frozen read "NOT everything cancelled ... could not list
  its open orders" although the global cancel cancelled everything when TWS woke; and
  one whose cancels TWS answered only after the report left no later word at all.
- A cancel all with TWS down said the same ~300-character reason once per order.

Everything runs against the fake TWS with the real ib_async client; the engine, its
OMS and its journal are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from silvertine_tui.domain import OrderStatus
from silvertine_tui.domain.ids import short_id
from silvertine_tui.engine import cancels
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import LogEvent, LogLevel
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, statuses
from tests.support.waiting import until

from .test_ib_cancel_everything import engine_for, sync, working_at_tws

S = OrderStatus


@contextlib.asynccontextmanager
async def journal_read(engine: TradingEngine, d: Desk) -> AsyncIterator[None]:
    """The engine reads the journal as it is written, as a running desk's does."""

    async def read() -> None:
        while True:
            await sync(engine, d.bus)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(read())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def engine_lines(d: Desk) -> list[tuple[LogLevel, str]]:
    """The engine's lines in the desk's Log (the health stream)."""
    return [
        (e.event.payload.level, e.event.payload.message)
        for e in await d.bus.read(d.bus.layout.health)
        if isinstance(e.event, LogEvent) and e.event.source == "engine"
    ]


async def test_an_order_whose_place_had_no_answer_is_counted_cancelled_by_the_kill() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        fake.lose_next_order_answer()
        request = d.request(limit="148.00")
        coid = request.client_order_id
        placing = asyncio.ensure_future(engine.submit(request))
        await fake.wait_for(lambda: len(fake.orders) == 1)
        await sync(engine, d.bus)
        report = await engine.kill("kill switch (UI)")
        with contextlib.suppress(Exception):
            await placing
        assert [o.status for o in fake.orders] == ["Cancelled"]  # by the global cancel
        assert len(fake.requests_of(m.REQ_GLOBAL_CANCEL)) == 1
        assert report.ok, report.summary()
        assert report.cancelled == (coid,), report.summary()
        assert report.cancels.gone == (), report.summary()
        assert report.summary() == "Trading HALTED; cancelled 1 order(s)."
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.CANCELED


async def test_a_kill_while_tws_is_frozen_past_the_listing_s_timeout_is_all_cancelled() -> None:
    """TWS wakes after the kill's listing of open orders gave up and before the global
    cancel's wait did: it answers again, so it is asked again, and the report says
    what it lists (nothing), not "could not list its open orders"."""
    async with FakeTws() as fake, desk(fake) as d:  # request_timeout_s 1, order_timeout_s 2
        engine = await engine_for(d)
        placed = [await engine.submit(d.request(limit=f"14{i}.00")) for i in range(2)]
        await sync(engine, d.bus)
        fake.freeze()
        asyncio.get_running_loop().call_later(1.5, fake.thaw)
        report = await engine.kill("kill switch (UI)")
        assert working_at_tws(fake) == set()
        assert report.ok, report.summary()
        assert report.problems == (), report.summary()
        assert sorted(report.cancelled) == sorted(placed)
        assert report.headline() == ""
        assert report.summary() == "Trading HALTED; cancelled 2 order(s)."


async def test_a_kill_tws_answers_only_after_its_report_is_said_done_once_it_does() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d, retry_delays=())
        placed = [await engine.submit(d.request(limit=f"14{i}.00")) for i in range(3)]
        await sync(engine, d.bus)
        async with journal_read(engine, d):
            fake.freeze()
            report = await engine.kill("kill switch (UI)")
            # Unknown when it is said: TWS answered nothing.
            assert report.headline() == cancels.NOT_ALL_CANCELLED
            assert sorted(report.still_working) == sorted(placed)
            assert await engine_lines(d) == []
            fake.thaw()  # TWS carries out the global cancel and the cancels
            await until(lambda: working_at_tws(fake) == set(), within_s=5.0, what="TWS cancels all")
            said = f"kill switch: all 3 order(s) now cancelled at {d.broker.source}."
            whole = f"{said} Nothing is working there now."

            async def line() -> list[tuple[LogLevel, str]]:
                return [(lv, text) for lv, text in await engine_lines(d) if said in text]

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15.0
            while not await line():
                assert loop.time() < deadline, await engine_lines(d)
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # nothing more comes: one line, not one per order
            assert await engine_lines(d) == [(LogLevel.WARNING, whole)]
            [fields] = [
                e.event.payload.fields
                for e in await d.bus.read(d.bus.layout.health)
                if isinstance(e.event, LogEvent) and e.event.source == "engine"
            ]
            assert fields == {
                "cancel_follow_up": d.broker.source,
                "still_working": 0,
                "of": "kill switch",
            }
        assert {engine.oms.get(c).order.status for c in placed} == {S.CANCELED}  # type: ignore[union-attr]


async def test_an_order_still_listed_after_the_kill_s_unanswered_cancels_is_said_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TWS lost the global cancel and the order's own cancel: once it answers a
    listing and the order stays listed, one ERROR line (a toast) names it."""
    monkeypatch.setattr(cancels, "FOLLOW_UP_STILL_S", 1.0, raising=False)
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d, retry_delays=())
        coid = await engine.submit(d.request(limit="148.00"))
        await sync(engine, d.bus)
        async with journal_read(engine, d):
            fake.ignore_next("global_cancel")
            fake.ignore_next("cancel_order")
            report = await engine.kill("kill switch (UI)")
            assert list(report.still_working) == [coid], report.summary()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10.0
            while not await engine_lines(d):
                assert loop.time() < deadline, "no follow-up"
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            assert await engine_lines(d) == [
                (
                    LogLevel.ERROR,
                    f"kill switch: 1 order(s) still working at {d.broker.source} after its "
                    f"cancels, as it lists them now: {short_id(coid)}. Cancel them at the "
                    "venue or with cancel all again.",
                )
            ]
        assert [o.status for o in fake.orders] == ["Submitted"]


async def test_cancel_all_with_tws_down_says_the_shared_reason_once() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        placed = [await engine.submit(d.request(limit=f"14{i}.00")) for i in range(3)]
        await sync(engine, d.bus)
        await fake.stop()
        await d.wait(lambda: not d.broker.sendable(cancel=True), "TWS down")
        report = await engine.cancel_all()
        assert sorted(report.still_working) == sorted(placed)
        [why] = set(report.still_working.values())
        assert why.startswith("NotConnected: "), why
        summary = report.summary()
        assert summary.count(why) == 1, summary
        assert summary.count("nothing was sent") == 1, summary
        shorts = ", ".join(short_id(c) for c in report.still_working)
        assert f"3 still working: {shorts} ({why})." in summary, summary
        assert not any(c in summary for c in placed), summary  # named by their short ids
        assert (
            f"{d.broker.source}: its account-wide cancel failed for the same reason "
            "(NotConnected)." in summary
        ), summary
        assert len(summary) < 2 * len(why) + 400, summary
        await asyncio.sleep(1.0)
        assert await engine_lines(d) == []  # nothing was sent: nothing to follow


async def test_an_order_that_filled_after_the_kill_s_report_is_said_filled_not_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TWS lost the global cancel and both orders' own cancels; after the report one
    fills and the other is cancelled in TWS: the line says which, never "all
    cancelled"."""
    monkeypatch.setattr(cancels, "FOLLOW_UP_STILL_S", 5.0, raising=False)
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d, retry_delays=())
        placed = [await engine.submit(d.request(limit=f"14{i}.00")) for i in range(2)]
        await sync(engine, d.bus)
        async with journal_read(engine, d):
            fake.ignore_next("global_cancel")
            fake.ignore_next("cancel_order", times=2)
            report = await engine.kill("kill switch (UI)")
            assert sorted(report.still_working) == sorted(placed), report.summary()
            first, second = fake.orders
            await fake.fill(first.order_id)
            await fake.cancel_by_venue(second.order_id)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10.0
            while not await engine_lines(d):
                assert loop.time() < deadline, "no follow-up"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            assert await engine_lines(d) == [
                (
                    LogLevel.WARNING,
                    f"kill switch: none of its orders works at {d.broker.source} now: "
                    f"1 order(s) cancelled; 1 filled ({short_id(placed[0])}).",
                )
            ]
