"""One pane at a time (80x24), the Orders pane's held (INACTIVE) and ended rows say
what filled of them where the Filled column has no room (a desk review).

A desk on Binance and IB: a reduce-only protective stop and a partly filled buy on
Binance keep the Filled column out (`PART 0.005` says that buy's fill in its Status,
tests/ui/test_orders_part_filled_80.py). An IB order partly filled that TWS then held
Inactive read `INACTIVE`, and a Binance buy partly filled then cancelled read
`CANCELED` in the All view: nothing on the line said that 2 shares or 0.007 BTC had
filled, and the position had moved. Now they read `INACTIVE fill 2` and `CANCELED fill
0.007` (`fill`: the figure is what filled, never what was cancelled), each word whole;
where the Filled column is shown they read as before. The real adapters against the
wire-level fakes (python-binance, ib_async)."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.config import IBBrokerConfig, PaperBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import ConnectionState, OrderStatus, OrderType, Side
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.fakes.tws import FakeTws
from tests.support.binance_broker import binance_config, quick_library_timings
from tests.support.ib import FAST, aapl_limit_buy

from .conftest import Desk, until
from .test_orders_part_filled_80 import binance_order

BTC = "BTCUSDT"
IB_ORDER = "stmxc58u5j6xuqbscxm1"


def row_line(blotter: Blotter, key: str) -> str:
    """The order's line as the pane draws it (the header is line 0)."""
    return blotter.render_line(1 + blotter.row_keys.index(key)).text


async def test_held_and_ended_rows_say_their_fill_at_80x24(make_desk) -> None:
    with quick_library_timings():
        async with (
            FakeTws() as tws,
            FakeBinance(
                symbols=[SymbolSpec(BTC, "BTC", "USDT")], balances={"USDT": "10000", "BTC": "1"}
            ) as fake,
        ):
            await fake.set_book(BTC, [("64999", "5")], [("65001", "5")])
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["AAPL"],
            )  # fmt: skip
            ib = IBBrokerConfig(
                name="ib", account=tws.account, port=tws.port, symbols=["AAPL"], **FAST
            )
            settings = Settings(brokers=[paper, binance_config(fake, [BTC]), ib], risk=RiskConfig())
            desk: Desk = make_desk(settings=settings)
            async with desk.app.run_test(size=(80, 24)) as pilot:
                await desk.start(pilot)
                view = desk.session.projection
                for broker in ("binance", "ib"):

                    def live(broker: str = broker) -> bool:
                        return view.broker_state(broker) is ConnectionState.LIVE

                    await until(pilot, f"{broker} LIVE", live)
                await until(
                    pilot,
                    "the BTC position",
                    lambda: view.position("binance", "spot", "BTCUSDT.BINANCE") == Decimal(1),
                )
                engine = desk.session.engine
                oms = engine.oms
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
                for coid, price in (("buy1", "64000"), ("buy2", "63000")):
                    await engine.submit(
                        binance_order(coid, Side.BUY, OrderType.LIMIT, limit_price=Decimal(price))
                    )
                await tws.set_quote("AAPL", "150.00", "150.05")
                await engine.submit(aapl_limit_buy(IB_ORDER, tws.account))
                await until(
                    pilot,
                    "four working",
                    lambda: sorted(v.order.status for v in oms.working()) == [OrderStatus.NEW] * 4,
                )
                await fake.fill(fake.order_by_client_id("buy1").order_id, qty=Decimal("0.005"))
                await fake.fill(fake.order_by_client_id("buy2").order_id, qty=Decimal("0.007"))
                [ib_order] = tws.orders
                await tws.fill(ib_order.order_id, qty="2")
                await until(
                    pilot,
                    "three partly filled",
                    lambda: (
                        [oms.orders[c].order.status for c in ("buy1", "buy2", IB_ORDER)]
                        == [OrderStatus.PARTIALLY_FILLED] * 3
                    ),
                )
                await tws.deactivate(ib_order.order_id, code=404, message="Order held")
                await until(pilot, "INACTIVE", lambda: oms.orders[IB_ORDER].order.inactive)
                await pilot.press("3")
                await desk.next_second(pilot)
                await desk.quiet(pilot)
                blotter = desk.app.screen.query_one(Blotter)
                shown = blotter.shown_columns
                assert "stop" in shown, shown
                assert "filled" not in shown, shown  # no room: the fills are in Status
                assert blotter.get_cell("buy1", "status").plain.rstrip() == "PART 0.005"
                held = blotter.get_cell(IB_ORDER, "status")
                assert held.plain == "INACTIVE fill 2", held.plain
                assert held.style == blotter.palette.warn
                assert "INACTIVE fill 2" in row_line(blotter, IB_ORDER)

                # buy2 cancelled with 0.007 of it filled: the All view.
                await engine.cancel("buy2")
                await until(
                    pilot,
                    "CANCELED",
                    lambda: oms.orders["buy2"].order.status is OrderStatus.CANCELED,
                )
                await pilot.press("a")
                await desk.next_second(pilot)
                await desk.quiet(pilot)
                assert "filled" not in blotter.shown_columns, blotter.shown_columns
                assert blotter.get_cell("buy2", "status").plain == "CANCELED fill 0.007"
                line = row_line(blotter, "buy2")
                assert "CANCELED fill 0.007" in line, line
                assert line.rstrip().endswith("CANCELED fill 0.007"), line  # whole, not cut
                assert "INACTIVE fill 2" in row_line(blotter, IB_ORDER)
                for _ in range(3):  # settled: no column comes and goes with the seconds
                    await desk.next_second(pilot)
                    assert blotter.shown_columns == shown
                await desk.session.close()
