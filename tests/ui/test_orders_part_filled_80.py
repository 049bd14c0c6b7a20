"""A partly filled order says how much has filled where the Orders pane has no room for
its Filled column (a trader's review, paper desk and the fake Binance).

One pane at a time (80x24) on Binance, a protective stop beside a working buy: the
Stop column (raised while a row has a stop) takes the room, and once the buy partly
filled its Status widened to `PARTIALLY_FILLED`, Filled and Avg fill went, and the row
read `BTCUSDT.BINANCE BUY 0.015 64,000.00 - PARTIALLY_FILLED`: how much had filled was
in the modify dialog and the history only. The same at 120x36, where the pane is a
box of the grid. Now its Status cell reads `PART 0.005` there, kept as wide as
`PARTIALLY_FILLED` so that the columns shown stay the ones they were (a narrower Status
let Filled back in, which took the fill out of Status again); where Filled is shown
the row reads as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from textual.pilot import Pilot

from silvertine_tui.config import PaperBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import (
    ConnectionState,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from silvertine_tui.events import FillEvent, OrderUpdateEvent
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.support.binance_broker import binance_config, quick_library_timings

from .conftest import Desk, limit_buy, until

BTC = "BTCUSDT"
KEY = "BTCUSDT.BINANCE"
LONG = len("PARTIALLY_FILLED")


@asynccontextmanager
async def binance_desk(
    maker: Callable[..., Desk], size: tuple[int, int]
) -> AsyncIterator[tuple[Desk, FakeBinance, Pilot[None]]]:
    """The desk on the fake Binance (1 BTC held: a position to protect), LIVE."""
    with quick_library_timings():
        async with FakeBinance(
            symbols=[SymbolSpec(BTC, "BTC", "USDT")], balances={"USDT": "10000", "BTC": "1"}
        ) as fake:
            await fake.set_book(BTC, [("64999", "5")], [("65001", "5")])
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["AAPL"],
            )  # fmt: skip
            settings = Settings(brokers=[paper, binance_config(fake, [BTC])], risk=RiskConfig())
            desk = maker(settings=settings)
            async with desk.app.run_test(size=size) as pilot:
                await desk.start(pilot)
                view = desk.session.projection
                await until(
                    pilot,
                    "Binance LIVE",
                    lambda: view.broker_state("binance") is ConnectionState.LIVE,
                )
                await until(
                    pilot,
                    "the BTC position",
                    lambda: view.position("binance", "spot", KEY) == Decimal(1),
                )
                yield desk, fake, pilot
            await desk.session.close()


def binance_order(coid: str, side: Side, kind: OrderType, **terms: Any) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="binance",
        account="spot",
        instrument=KEY,
        side=side,
        order_type=kind,
        quantity=Decimal("0.015"),
        tif=TimeInForce.GTC,
        **terms,
    )


def row_line(blotter: Blotter, key: str) -> str:
    """The order's line as the pane draws it (the header is line 0)."""
    return blotter.render_line(1 + blotter.row_keys.index(key)).text


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_a_partly_filled_order_beside_a_stop_says_its_fill(
    make_desk, size: tuple[int, int]
) -> None:
    async with binance_desk(make_desk, size) as (desk, fake, pilot):
        engine = desk.session.engine
        # A reduce-only stop under the market protecting the position, and a buy.
        await engine.submit(
            binance_order(
                "stop1",
                Side.SELL,
                OrderType.STOP_LIMIT,
                limit_price=Decimal("59900"),
                stop_price=Decimal("60000"),
                reduce_only=True,
            )
        )
        await engine.submit(
            binance_order("buy1", Side.BUY, OrderType.LIMIT, limit_price=Decimal("64000"))
        )
        oms = engine.oms
        await until(
            pilot,
            "both working",
            lambda: sorted(v.order.status for v in oms.working()) == [OrderStatus.NEW] * 2,
        )
        await pilot.press("3")
        await desk.quiet(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        assert "stop" in blotter.shown_columns
        assert blotter.get_cell("buy1", "status").plain == "NEW"

        await fake.fill(fake.order_by_client_id("buy1").order_id, qty=Decimal("0.005"))
        await until(
            pilot,
            "PARTIALLY_FILLED",
            lambda: oms.orders["buy1"].order.status is OrderStatus.PARTIALLY_FILLED,
        )
        await desk.settle(pilot)
        await desk.next_second(pilot)  # the once-a-second refit: nothing comes back
        shown = blotter.shown_columns
        # The stop's trigger stays on screen; there is no room for Filled beside it.
        assert "stop" in shown, shown
        assert "filled" not in shown, shown
        assert "avg" not in shown, shown
        status = blotter.get_cell("buy1", "status").plain
        assert status.rstrip() == "PART 0.005", status
        assert len(status) == LONG  # as wide as the word it stands for
        line = row_line(blotter, "buy1")
        assert "PART 0.005" in line, line
        assert line.split()[:5] == ["BTCUSDT.BINANCE", "BUY", "0.015", "64,000.00", "-"]
        assert "PARTIALLY_FILLED" not in line
        assert blotter.get_cell("stop1", "status").plain == "NEW"
        for _ in range(3):  # settled: no column comes and goes with the seconds
            await desk.next_second(pilot)
            assert blotter.shown_columns == shown
            assert "PART 0.005" in row_line(blotter, "buy1")

        # The stop cancelled: room for Filled again, and the row reads as it did.
        await engine.cancel("stop1")
        await until(pilot, "the stop gone", lambda: "stop1" not in blotter.row_keys)
        await desk.next_second(pilot)
        await desk.settle(pilot)
        assert "filled" in blotter.shown_columns, blotter.shown_columns
        assert blotter.get_cell("buy1", "status").plain == "PARTIALLY_FILLED"
        assert blotter.get_cell("buy1", "filled").plain == "0.005"
        assert "PARTIALLY_FILLED" in row_line(blotter, "buy1")


PAPER_BTC = "BTCUSDT.PAPER"


async def part_filled_paper_desk(desk: Desk, pilot: Pilot[None]) -> Blotter:
    """On the paper desk: a stop-limit buy over the market and a BUY 1 BTC partly
    filled 0.3 (as an adapter journals it: the fill, then the status)."""
    engine = desk.session.engine
    stop = limit_buy("st000000000000099300", PAPER_BTC, "0.25", "66100.00").model_copy(
        update={"order_type": OrderType.STOP_LIMIT, "stop_price": Decimal("66000.00")}
    )
    await engine.submit(stop)
    coid = "st000000000000099301"
    await engine.submit(limit_buy(coid, PAPER_BTC, "1", "63500.00"))
    await desk.settle(pilot)
    bus = desk.session.bus
    await bus.publish(
        FillEvent.create(
            "paper/main",
            Fill(
                exec_id="BTCUSDT-99301",
                client_order_id=coid,
                broker="paper",
                account="main",
                instrument=PAPER_BTC,
                side=Side.BUY,
                quantity=Decimal("0.3"),
                price=Decimal("63500.00"),
            ),
        )
    )
    await bus.publish(
        OrderUpdateEvent.create(
            "paper/main",
            OrderUpdate(
                client_order_id=coid,
                status=OrderStatus.PARTIALLY_FILLED,
                filled_qty=Decimal("0.3"),
                avg_price=Decimal("63500.00"),
            ),
        )
    )
    await desk.settle(pilot)
    await pilot.press("3")
    await desk.quiet(pilot)
    return desk.app.screen.query_one(Blotter)


async def test_at_every_width_the_fill_is_on_screen_and_the_columns_settle(make_desk) -> None:
    """The paper desk from 50 to 130 columns wide, one pane at a time and in the grid:
    the partly filled order's fill is on its line (Filled, or `PART 0.3` in Status,
    never both), Status is as wide as `PARTIALLY_FILLED` either way, and the columns
    shown no longer change from second to second."""
    desk: Desk = make_desk()
    coid = "st000000000000099301"
    async with desk.app.run_test(size=(80, 24), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        blotter = await part_filled_paper_desk(desk, pilot)
        hidden = 0
        for width in range(50, 131, 4):
            await pilot.resize_terminal(width, 24 if width < 100 else 36)
            await desk.next_second(pilot)
            await desk.next_second(pilot)
            shown = blotter.shown_columns
            line = row_line(blotter, coid)
            status = blotter.get_cell(coid, "status").plain
            assert len(status) == LONG, (width, status)
            assert blotter.column_width("status") >= LONG, width
            if "filled" in shown:
                assert status == "PARTIALLY_FILLED", (width, status)
                assert blotter.get_cell(coid, "filled").plain == "0.3"
                assert "PARTIALLY_FILLED" in line, (width, line)
                assert " 0.3 " in line, (width, line)
            else:
                hidden += 1
                assert status.rstrip() == "PART 0.3", (width, status)
                assert "PART 0.3" in line, (width, line)
            for _ in range(2):
                await desk.next_second(pilot)
                assert blotter.shown_columns == shown, width
        assert hidden, "no width left the Filled column out"
        await desk.session.close()
