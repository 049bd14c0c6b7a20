"""The Orders row of a triggered Binance stop drops `trg` once a modify re-arms it.

A modify at Binance is a cancelReplace: the replacement of a triggered STOP_LOSS_LIMIT
is a new stop that waits again. The desk kept the order triggered (the replacement's
report said nothing of it, and the order only ever took a trigger): its row read
`1,995.00 trg` and the modify dialog kept its Stop closed while Binance held a stop
that waited. python-binance runs against the fake Binance."""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Input

from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderType, Side
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings

from .conftest import Desk, until

ETH = "ETHUSDT"


def paper_only() -> PaperBrokerConfig:
    return PaperBrokerConfig(
        name="paper",
        account="main",
        seed=7,
        market={"autorun": False},
        latency={"enabled": False},
        symbols=["AAPL"],
    )


async def open_modify(desk: Desk, pilot: Pilot[None], coid: str) -> ModifyScreen:
    await pilot.press("escape", "3", "home", "m")
    await pilot.pause()
    screen = desk.app.screen
    assert isinstance(screen, ModifyScreen)
    assert screen.view.client_order_id == coid
    return screen


async def test_a_modified_triggered_binance_stop_reads_waiting_again(make_desk) -> None:
    with quick_library_timings():
        async with FakeBinance(
            symbols=DEFAULT_SYMBOLS, balances={"USDT": "10000", "ETH": "2"}
        ) as fake:
            await fake.set_book(ETH, [("1989", "5")], [("2001", "5")])
            await fake.trade(ETH, "2000", "0.1")
            desk: Desk = make_desk(
                settings=Settings(brokers=[paper_only(), binance_config(fake, [ETH])])
            )
            async with desk.app.run_test(size=(120, 36)) as pilot:
                await desk.start(pilot)
                engine = desk.session.engine
                broker = engine.broker("binance")
                await until(
                    pilot, "binance LIVE", lambda: broker.health_state.state is ConnectionState.LIVE
                )
                coid = await engine.submit(
                    OrderRequest(
                        broker="binance",
                        account="spot",
                        instrument="ETHUSDT.BINANCE",
                        side=Side.SELL,
                        order_type=OrderType.STOP_LIMIT,
                        quantity=Decimal("0.5"),
                        stop_price=Decimal("1995"),
                        limit_price=Decimal("2005"),
                    )
                )

                def order_now() -> tuple[bool, Decimal | None] | None:
                    view = engine.oms.get(coid)
                    if view is None:
                        return None
                    return view.order.triggered, view.order.limit_price

                await until(pilot, "the stop working", lambda: order_now() is not None)
                await fake.trade(ETH, "1995", "0.1")  # it triggers, resting at 2,005
                await until(pilot, "the trigger", lambda: order_now() == (True, Decimal(2005)))
                await fake.trade(ETH, "2000", "0.1")  # back above its stop
                await desk.settle(pilot)
                await desk.next_second(pilot)
                blotter = desk.app.screen.query_one(Blotter)
                assert blotter.get_cell(coid, "stop").plain == "1,995.00 trg"

                screen = await open_modify(desk, pilot, coid)
                assert screen.query_one("#m-stop_price", Input).disabled
                screen.query_one("#m-limit_price", Input).value = "2008"
                await pilot.press("enter")
                await until(pilot, "the replacement", lambda: order_now() == (False, Decimal(2008)))
                await desk.settle(pilot)
                await desk.next_second(pilot)
                assert blotter.get_cell(coid, "stop").plain == "1,995.00"
                assert blotter.get_cell(coid, "price").plain == "2,008.00"
                # Its Stop is open again: Binance's replacement waits for its trigger.
                screen = await open_modify(desk, pilot, coid)
                assert screen.query_one("#m-stop_price", Input).disabled is False
                await pilot.press("escape")
                await desk.settle(pilot)
            await desk.session.close()
