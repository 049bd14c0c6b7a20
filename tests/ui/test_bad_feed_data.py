"""Data on the bus the desk cannot use is counted and said; the desk goes on.

Entries are written as another process would write them (`MemoryBus.append_raw`, the
same codec as a Redis read), with numbers no writer of ours produces but JSON and the
event schemas allow.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import ConnectionState, Fill, Quote, Side
from silvertine_tui.events import (
    FillEvent,
    Health,
    HealthEvent,
    Log,
    LogEvent,
    LogLevel,
    QuoteEvent,
    encode,
)
from silvertine_tui.ui.widgets.health import HealthPane

from .conftest import Desk


def health_text(desk: Desk) -> str:
    return desk.app.screen.query_one(HealthPane).text.plain


@pytest.mark.parametrize(
    ("component", "metric", "number"),
    [("bus", "server_restarts", "1e400"), ("broker:paper/main", "rtt_ms", "1" + "0" * 400)],
    ids=["float", "whole-number"],
)
async def test_a_health_metric_too_large_for_a_float_is_a_decode_error(
    make_desk, component: str, metric: str, number: str
) -> None:
    """`1e400` is valid JSON and decoded to `inf`; the Health pane's `int()` of it
    raised `OverflowError` in the frame and stopped the app. So did a whole number of
    401 digits, whose `float()` overflows (a broker's latency)."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        bus = desk.session.bus
        assert isinstance(bus, MemoryBus)
        fields = encode(
            HealthEvent.create(
                component,
                Health(component=component, state=ConnectionState.LIVE, metrics={metric: 7}),
            )
        )
        payload = json.loads(fields[b"p"])
        payload["metrics"][metric] = "@"
        fields[b"p"] = json.dumps(payload).replace('"@"', number).encode()
        bus.append_raw(bus.layout.health, fields)
        await desk.step(pilot, 2)
        assert desk.app.is_running
        # One entry: the engine's reader and the desk's both met it, and said 2.
        assert re.search(r"decode err 1\b", health_text(desk)), health_text(desk)
        assert "restarts 0" in health_text(desk)
        await desk.session.close()


async def test_an_entry_the_desk_cannot_take_in_is_counted_and_said(make_desk) -> None:
    """A fill of 10^500000 at 10^500000: its notional overflows the decimal context
    (`Overflow`) in the fee estimate. It was the reader's end: quotes, the Log and
    Health stopped moving, and nothing said so. Now it is one entry not shown."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        bus = desk.session.bus
        assert isinstance(bus, MemoryBus)
        huge = Decimal("1E+500000")
        fill = Fill(
            exec_id="x-huge",
            client_order_id="st-elsewhere-1",
            broker="paper",
            account="main",
            instrument="ETHUSDT.PAPER",
            side=Side.BUY,
            quantity=huge,
            price=huge,
            fee=Decimal("1"),
            fee_currency="USDT",
        )
        bus.append_raw(bus.layout.exec("paper", "main"), encode(FillEvent.create("x", fill)))
        await desk.step(pilot, 1)
        model = desk.app.model
        assert model.not_shown == 1
        assert model.not_shown_last.startswith("fill ")
        assert "(Overflow: " in model.not_shown_last
        assert f"not shown 1: {model.not_shown_last}" in " ".join(health_text(desk).split())
        titles = [n.title for n in desk.app._notifications]
        assert titles.count("Event not shown") == 1
        assert any(line.text.startswith("Event not shown: fill ") for line in model.log)

        # The reader goes on: the market moves on the desk after it. The engine, which
        # applies the same journal, skips it too and says so; the desk trades on.
        before = {key: state.quote for key, state in model.quotes.items()}
        total = model.rates.total
        await desk.step(pilot, 3)
        assert model.rates.total > total
        assert {key: state.quote for key, state in model.quotes.items()} != before
        titles = [n.title for n in desk.app._notifications]
        assert "Engine: not applied" in titles
        assert "Desk stopped" not in titles
        assert desk.session.not_ready == ""
        await desk.session.close()


async def test_a_log_message_of_a_megabyte_is_cut_in_the_log_pane(make_desk) -> None:
    """Wrapping a megabyte into the pane's rows held the desk for seconds; the Log line
    keeps the first 2,000 characters and says how many more the journal has."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        said = Log(level=LogLevel.WARNING, message="y" * 1_000_000)
        await desk.session.bus.publish(LogEvent.create("engine", said, ts=desk.clock.ns()))
        await desk.step(pilot, 1)
        (line,) = [line for line in desk.app.model.log if "yyyy" in line.text]
        assert line.text.endswith("… (998,008 more characters in the journal)")
        assert len(line.text) < 2_100
        await desk.session.close()


async def test_numbers_no_check_caught_neither_stop_nor_freeze_the_desk(make_desk) -> None:
    """A quote whose mid overflows (9E+999999) ended the engine's reader before its
    guard (in the conflation of quotes): the desk stopped. A fill of 10^600000 and a
    quote of 10^500000 froze the desk for 84 s: spelled out, the number filled a toast,
    the engine's reason in Health (wrapped each time it changed) and the cells. Now
    each is written as held (`1E+600000`), and a reason is cut."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        bus = desk.session.bus
        assert isinstance(bus, MemoryBus)
        md = bus.layout.md("paper")
        ts = desk.clock.ns()
        over = Quote(instrument="ETHUSDT.PAPER", bid=Decimal("9E+999999"), ask=Decimal("9E+999999"))
        bus.append_raw(md, encode(QuoteEvent.create("paper", over, ts=ts)))
        await desk.settle(pilot)  # read on its own (a later quote would supersede it)
        assert desk.session.engine.anomalies.counts["not_applied"] == 1
        huge = Fill(
            exec_id="x-big",
            client_order_id="st-elsewhere-3",
            broker="paper",
            account="main",
            instrument="ETHUSDT.PAPER",
            side=Side.BUY,
            quantity=Decimal("1E+600000"),
            price=Decimal("1"),
        )
        bus.append_raw(bus.layout.exec("paper", "main"), encode(FillEvent.create("x", huge)))
        big = Quote(instrument="ETHUSDT.PAPER", bid=Decimal("1E+500000"), ask=Decimal("1E+500000"))
        bus.append_raw(md, encode(QuoteEvent.create("paper", big, ts=ts)))
        await desk.step(pilot, 1)
        await pilot.press("4")
        await desk.step(pilot, 2)

        assert desk.app.is_running
        assert desk.session.not_ready == ""  # not stopped
        assert len(health_text(desk)) < 5_000
        assert all(len(n.message) < 2_100 for n in desk.app._notifications)
        rows = "".join(
            s.text for strip in desk.app.screen._compositor.render_strips() for s in strip
        )
        assert "1E+600000" in rows  # the position's quantity, as held
        await desk.session.close()
