"""The modify dialog at Binance: a smaller quantity alone is amended in place (an order
amend keepPriority), so a triggered stop's quantity cut goes; any other change of it is
still placed anew, and refused while the market is through its stop (the real app,
session and python-binance against the fake Binance, on a symbol with `amendAllowed`).

Before, the dialog judged every change at Binance as placed anew: a triggered SELL
STOP_LIMIT cut from 0.5 to 0.3 was refused on the Qty (`[triggered]`: "a change at
binance places it anew as a stop, which binance refuses while the market is through
it"), though Binance amends a quantity decrease in place and judges no stop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.config import PaperBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderType, Side
from silvertine_tui.ui.screens.modify import ModifyScreen
from tests.conftest import state_home  # noqa: F401 (autouse)
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.support.binance_broker import binance_config, quick_library_timings
from tests.ui.conftest import Desk, clock, make_desk, until  # noqa: F401

ETH = "ETHUSDT"
KEY = "ETHUSDT.BINANCE"
AMEND = ("PUT", "/api/v3/order/amend/keepPriority")
REPLACE = ("POST", "/api/v3/order/cancelReplace")


@asynccontextmanager
async def binance_desk(
    maker: Callable[..., Desk],
) -> AsyncIterator[tuple[Desk, FakeBinance, Pilot[None]]]:
    """The desk on the fake Binance (ETHUSDT amendable), LIVE, its quote in (the last
    trade 2,000)."""
    with quick_library_timings():
        async with FakeBinance(
            symbols=[SymbolSpec(ETH, "ETH", "USDT", amend_allowed=True)],
            balances={"USDT": "10000", "ETH": "2"},
        ) as fake:
            await fake.set_book(ETH, [("1999", "5")], [("2001", "5")])
            await fake.trade(ETH, "2000", "0.1")
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["AAPL"],
            )  # fmt: skip
            settings = Settings(brokers=[paper, binance_config(fake, [ETH])], risk=RiskConfig())
            desk = maker(settings=settings)
            async with desk.app.run_test(size=(120, 36)) as pilot:
                await desk.start(pilot)
                model = desk.app.model
                component = "broker:binance/spot"
                await until(pilot, "Binance LIVE", lambda: component in model.health
                            and model.health[component].state is ConnectionState.LIVE)  # fmt: skip
                await fake.set_book(ETH, [("1999.5", "5")], [("2000.5", "5")])
                await until(pilot, "the quote", lambda: KEY in model.quotes)
                yield desk, fake, pilot
            await desk.session.close()


async def test_a_triggered_stops_smaller_quantity_is_amended_at_binance(make_desk) -> None:  # noqa: F811
    """SELL STOP_LIMIT 0.5 stop 1,995 limit 2,005, triggered by a trade at 1,995 (the
    last trade still there). The line under its Stop says a smaller quantity alone is
    amended; its Price changed to 2,008 is refused as before, nothing sent; its Qty cut
    to 0.3 goes, as an amend: the same venue order at 0.3, still triggered, nothing
    cancelled."""
    async with binance_desk(make_desk) as (desk, fake, pilot):
        engine = desk.session.engine
        coid = await engine.submit(
            OrderRequest(
                broker="binance", account="spot", instrument=KEY, side=Side.SELL,
                order_type=OrderType.STOP_LIMIT, quantity=Decimal("0.5"),
                stop_price=Decimal("1995"), limit_price=Decimal("2005"),
            )
        )  # fmt: skip
        await until(pilot, "the stop", lambda: engine.oms.get(coid) is not None)
        await fake.trade(ETH, "1995", "0.1")  # it triggers, resting at 2,005
        await fake.set_book(ETH, [("1994.5", "5")], [("1995.5", "5")])
        await until(pilot, "the trigger", lambda: (view := engine.oms.get(coid)) is not None
                    and view.order.triggered)  # fmt: skip
        await until(pilot, "the last trade", lambda: desk.app.model.quotes[KEY].quote.last
                    == Decimal(1995))  # fmt: skip
        await desk.settle(pilot)
        venue_id = fake.order_by_client_id(coid).order_id

        await pilot.press("escape", "3", "end", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        note = str(screen.query_one("#m-stop-note", Static).render())
        assert note == (
            "Stop 1,995.00 has triggered: the order works as a limit at 2,005.00; it cannot "
            "change. A change at binance places a new stop: it waits for its trigger again, "
            "and is refused while the market is through it; a smaller quantity alone is "
            "amended in place, the order kept"
        )
        price = screen.query_one("#m-limit_price", Input)
        price.value = "2008"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen
        problems = str(screen.query_one("#m-problems", Static).render())
        assert problems.startswith(
            "Price: stop 1,995.00 has triggered and the order works as a limit at 2,005.00"
        )
        assert problems.endswith(
            "To work at other terms now, cancel it and place a limit (a smaller quantity "
            "alone is amended in place) [triggered]"
        )
        assert REPLACE not in fake.requests
        assert AMEND not in fake.requests

        price.value = "2005"
        screen.query_one("#m-quantity", Input).value = "0.3"
        await pilot.press("enter")
        await desk.settle(pilot)
        await until(pilot, "the amend", lambda: (view := engine.oms.get(coid)) is not None
                    and view.order.quantity == Decimal("0.3"))  # fmt: skip

        assert desk.app.screen is not screen
        assert fake.requests.count(AMEND) == 1
        assert REPLACE not in fake.requests
        at_binance = fake.order_by_client_id(coid)
        assert (at_binance.order_id, at_binance.orig_qty, at_binance.is_open) == (
            venue_id,
            Decimal("0.3"),
            True,
        )
        view = engine.oms.get(coid)
        assert view is not None
        assert view.order.triggered
        assert view.order.venue_order_id == str(venue_id)
